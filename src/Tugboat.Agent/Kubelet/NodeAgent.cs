using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Tugboat.Agent.Probes;
using Tugboat.Agent.Runtime;
using Tugboat.Agent.Services;
using Tugboat.Api.Meta;
using Tugboat.Client;
using Tugboat.Network.Cni;
using Tugboat.Network.Proxy;

namespace Tugboat.Agent.Kubelet;

/// <summary>
/// The node agent (the kubelet's role): registers the node with its machine's capacity, heartbeats through a Lease and
/// node conditions, runs the pods bound to it with one <see cref="PodWorker"/> each, re-adopts what runs after its own
/// restart, and serves logs (and later exec and port-forward) to the API server through <see cref="KubeletServer"/>.
/// </summary>
public sealed partial class NodeAgent
{
    internal const string PodUidLabel = "io.kubernetes.pod.uid";
    internal const string PodNameLabel = "io.kubernetes.pod.name";
    internal const string PodNamespaceLabel = "io.kubernetes.pod.namespace";
    internal const string ContainerLabel = "io.kubernetes.container.name";
    internal const string AttemptLabel = "io.kubernetes.container.restartCount";

    private readonly AgentOptions _options;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, PodWorker> _workers = new(StringComparer.Ordinal);

    public NodeAgent(ApiClient client, IContainerRuntime runtime, AgentOptions options, ILogger logger)
    {
        Client = client;
        Runtime = runtime;
        _options = options;
        Logger = logger;
        _logger = logger;
        Events = new EventRecorder(client, "kubelet");
        NodeIp = options.NodeIp ?? DefaultNodeIp();
        Stats = new StatsCollector(runtime);
        Services = new Informer(client, "/api/v1/services") { StripManagedFields = true };
        Directory.CreateDirectory(options.DataDir);
    }

    internal ApiClient Client { get; }

    public IContainerRuntime Runtime { get; }

    internal ILogger Logger { get; }

    internal EventRecorder Events { get; }

    internal Prober Prober { get; } = new();

    internal StatsCollector Stats { get; }

    internal PodNetwork? Network { get; private set; }

    /// <summary>Every Service (for the containers' service variables, and the service proxy and DNS).</summary>
    internal Informer Services { get; }

    public string NodeName => _options.NodeName;

    public string NodeIp { get; }

    internal string ClusterDomain => _options.ClusterDomain;

    /// <summary>The nameserver pods get: the cluster DNS once this node serves it, else null (the node's resolvers).</summary>
    private string? _clusterDns;
    private ServiceNetwork? _serviceNetwork;

    /// <summary>A pod with host ports got or lost its address: the proxy serves them (the CNI portmap plugin's role).</summary>
    internal void HostPortsChanged() => _serviceNetwork?.HostPortsChanged();

    /// <summary>Completes once the node is registered and its pods are being synced.</summary>
    public Task Ready => _ready.Task;

    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private Dictionary<string, decimal> _allocatable = new(StringComparer.Ordinal);

    internal decimal Allocatable(string resource) => _allocatable.GetValueOrDefault(resource);

    internal string PodDir(string uid) => Path.Combine(_options.DataDir, "pods", uid);

    private string LogDir(string ns, string name, string uid) => Path.Combine(_options.DataDir, "logs", $"{ns}_{name}_{uid}");

    /// <summary>Where attempt <paramref name="restartCount"/> of a container logs (upstream: /var/log/pods/NS_NAME_UID/CONTAINER/N.log).</summary>
    internal string LogPath(string ns, string name, string uid, string container, int restartCount) =>
        Path.Combine(LogDir(ns, name, uid), container, restartCount.ToString(CultureInfo.InvariantCulture) + ".log");

    internal void RemoveLogs(string ns, string name, string uid)
    {
        try
        {
            Directory.Delete(LogDir(ns, name, uid), recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>The current and previous log files of a container (null when it has none).</summary>
    public (string? Current, string? Previous) LogFiles(string ns, string name, string container)
    {
        var dir = Directory.Exists(Path.Combine(_options.DataDir, "logs")) ? Directory.GetDirectories(Path.Combine(_options.DataDir, "logs"), $"{ns}_{name}_*").FirstOrDefault() : null;
        if (dir is null || !Directory.Exists(Path.Combine(dir, container)))
        {
            return (null, null);
        }
        var files = Directory.GetFiles(Path.Combine(dir, container), "*.log")
            .Select(f => (File: f, N: int.TryParse(Path.GetFileNameWithoutExtension(f), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : -1))
            .Where(f => f.N >= 0).OrderByDescending(f => f.N).ToList();
        // The worker knows which attempt is current even before that attempt has written (or created) its file.
        if (_workers.Values.FirstOrDefault(w => w.Namespace == ns && w.Name == name) is { } worker && worker.RestartCount(container) is { } current)
        {
            files = files.Where(f => f.N <= current).ToList();
            return (files.FirstOrDefault(f => f.N == current).File, files.FirstOrDefault(f => f.N < current).File);
        }
        return (files.ElementAtOrDefault(0).File, files.ElementAtOrDefault(1).File);
    }

    /// <summary>The address of a pod this agent runs (its own, or the node's for host-network pods), or null.</summary>
    public string? PodIp(string ns, string name) => _workers.Values.FirstOrDefault(w => w.Namespace == ns && w.Name == name)?.PodIp;

    /// <summary>The runtime ID of a container of a pod on this node that is running, or null.</summary>
    public string? RunningContainer(string ns, string name, string container) =>
        Runtime.List().Where(c => c.Status == ContainerStatus.Running && c.Config.Labels.GetValueOrDefault(PodNamespaceLabel) == ns
            && c.Config.Labels.GetValueOrDefault(PodNameLabel) == name && c.Config.Labels.GetValueOrDefault(ContainerLabel) == container).Select(c => c.Id).FirstOrDefault();

    internal string ResolvConf(JsonObject pod)
    {
        var ns = pod["metadata"]!["namespace"]!.GetValue<string>();
        var policy = pod["spec"]?["dnsPolicy"]?.GetValue<string>() ?? "ClusterFirst";
        var hostNetwork = pod["spec"]?["hostNetwork"]?.GetValue<bool>() == true;
        string text;
        if (policy == "None")
        {
            text = string.Empty;
        }
        else if (_clusterDns is { } dns && (policy == "ClusterFirstWithHostNet" || (policy == "ClusterFirst" && !hostNetwork)))
        {
            var domain = _options.ClusterDomain;
            text = $"search {ns}.svc.{domain} svc.{domain} {domain}\nnameserver {dns}\noptions ndots:5\n";
        }
        else
        {
            text = File.Exists("/etc/resolv.conf") ? File.ReadAllText("/etc/resolv.conf") : string.Empty;
        }
        if (pod["spec"]?["dnsConfig"] is JsonObject config)
        {
            var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList();
            var servers = lines.Where(l => l.StartsWith("nameserver ", StringComparison.Ordinal)).Select(l => l[11..].Trim()).Concat(config["nameservers"]?.AsArray().Select(n => n!.GetValue<string>()) ?? []).Distinct().Take(3);
            var searches = lines.Where(l => l.StartsWith("search ", StringComparison.Ordinal)).SelectMany(l => l[7..].Split(' ', StringSplitOptions.RemoveEmptyEntries)).Concat(config["searches"]?.AsArray().Select(n => n!.GetValue<string>()) ?? []).Distinct();
            var options = lines.Where(l => l.StartsWith("options ", StringComparison.Ordinal)).SelectMany(l => l[8..].Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToList();
            foreach (var o in config["options"]?.AsArray().OfType<JsonObject>() ?? [])
            {
                var name = o["name"]!.GetValue<string>();
                options.RemoveAll(x => x.Split(':')[0] == name);
                options.Add(o["value"]?.GetValue<string>() is { } v ? $"{name}:{v}" : name);
            }
            text = string.Concat(servers.Select(s => $"nameserver {s}\n")) + (searches.Any() ? $"search {string.Join(' ', searches)}\n" : string.Empty) + (options.Count > 0 ? $"options {string.Join(' ', options)}\n" : string.Empty);
        }
        return text;
    }

    public async Task RunAsync(CancellationToken ct)
    {
        var events = Events.RunAsync(ct);
        var serviceNetwork = Task.CompletedTask;
        var podCidr = await RegisterAsync(ct).ConfigureAwait(false);
        if (Runtime.Capabilities.NetworkNamespaces && PodNetwork.FindPlugins() is { } plugins)
        {
            Network = new PodNetwork(Path.Combine(_options.DataDir, "cni"), plugins, podCidr, [_options.ClusterCidr, _options.ServiceCidr]);
            await Network.EnsureBridgeAsync(ct).ConfigureAwait(false);
            if (_options.CniConfDir is { } cniConfDir)
            {
                Directory.CreateDirectory(cniConfDir);
                // Written whole and renamed into place: the runtime reloads the directory on every change.
                var conflist = Path.Combine(cniConfDir, "10-tugboat.conflist");
                await File.WriteAllTextAsync(conflist + ".tmp", Network.Conflist(), ct).ConfigureAwait(false);
                File.Move(conflist + ".tmp", conflist, overwrite: true);
            }
            serviceNetwork = StartServiceNetwork(Network, ct);
        }
        else
        {
            LogHostNetworkOnly(Runtime.Capabilities.NetworkNamespaces ? "no CNI plugins found in /usr/lib/cni or /opt/cni/bin" : "not running as root");
            serviceNetwork = StartServiceNetwork(null, ct);
        }
        var recovered = Runtime.Recover().GroupBy(c => c.Config.Labels.GetValueOrDefault(PodUidLabel, string.Empty), StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => (IReadOnlyList<ContainerInfo>)g.ToList(), StringComparer.Ordinal);
        var pods = new Informer(Client, "/api/v1/pods") { StripManagedFields = true, FieldSelector = "spec.nodeName=" + NodeName };
        pods.Added += p => Dispatch(p, recovered, ct);
        pods.Updated += (_, p) => Dispatch(p, recovered, ct);
        pods.Deleted += p =>
        {
            if (_workers.TryGetValue(p["metadata"]!["uid"]!.GetValue<string>(), out var w))
            {
                w.Removed();
            }
        };
        var serviceInformer = Services.RunAsync(ct);
        var informer = pods.RunAsync(ct);
        var heartbeat = HeartbeatAsync(ct);
        var sampling = Stats.RunAsync(ct);
        // Containers get their service variables from the start, as upstream's kubelet waits for its service informer.
        await Task.WhenAny(Task.WhenAll(pods.Synced, Services.Synced), informer, serviceInformer).ConfigureAwait(false);
        await CleanUpOrphansAsync(pods, recovered, ct).ConfigureAwait(false);
        _ready.TrySetResult();
        LogRegistered(NodeName, NodeIp, podCidr.ToString(), Runtime.Name);
        try
        {
            await Task.WhenAll(informer, serviceInformer, heartbeat, events, sampling, serviceNetwork).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    /// <summary>
    /// Starts the node's service proxy (nftables where the node has a pod network and the nft tool, the userspace
    /// proxy otherwise, or as --proxy-mode says), cluster DNS and Ingress controller (both need the pod network; the
    /// Ingress needs nginx); pods get the cluster DNS as their nameserver from then on.
    /// </summary>
    private Task StartServiceNetwork(PodNetwork? network, CancellationToken ct)
    {
        var mode = _options.ProxyMode;
        if (mode == ProxyMode.Auto)
        {
            mode = network is not null && PodNetwork.HasNftables() ? ProxyMode.Nftables : ProxyMode.Userspace;
        }
        else if (mode == ProxyMode.Nftables && (network is null || !PodNetwork.HasNftables()))
        {
            LogNoServices(network is null ? "--proxy-mode nftables needs the pod network (root and the CNI plugins)" : "--proxy-mode nftables needs nft (Debian package nftables)");
            return Task.CompletedTask;
        }
        var dns = _options.ClusterDns is { } configured ? IPAddress.Parse(configured) : ServiceNetwork.DefaultDnsAddress(_options.ServiceCidr);
        var ingress = network is not null && (_options.IngressHttpPort > 0 || _options.IngressHttpsPort > 0);
        if (ingress && IngressController.FindNginx() is null)
        {
            LogNoIngress("nginx (Debian package nginx-light) is not installed");
            ingress = false;
        }
        var services = new ServiceNetwork(Client, Services, network, mode, NodeName, _options.ServiceCidr, dns, _options.ClusterDomain, _logger)
        {
            LocalPods = () => _workers.Values.Select(w => (w.Current, w.PodIp)).Where(p => p.PodIp is not null).Select(p => (p.Current, p.PodIp!)),
            Ingress = ingress ? new IngressController(Client, Path.Combine(_options.DataDir, "ingress"), NodeIp, _options.IngressHttpPort, _options.IngressHttpsPort, _logger) : null,
        };
        _clusterDns = network is not null ? dns.ToString() : null;
        _serviceNetwork = services;
        return Task.Run(async () =>
        {
            try
            {
                await services.RunAsync(ct).ConfigureAwait(false);
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                LogNoServices(e.Message);
            }
        }, CancellationToken.None);
    }

    private void Dispatch(JsonObject pod, Dictionary<string, IReadOnlyList<ContainerInfo>> recovered, CancellationToken ct)
    {
        var uid = pod["metadata"]!["uid"]!.GetValue<string>();
        if (_workers.TryGetValue(uid, out var existing))
        {
            existing.Update(pod);
            return;
        }
        IReadOnlyList<ContainerInfo> mine;
        lock (recovered)
        {
            mine = recovered.Remove(uid, out var list) ? list : [];
        }
        var worker = new PodWorker(this, pod, mine);
        if (!_workers.TryAdd(uid, worker))
        {
            _workers[uid].Update(pod);
            return;
        }
        worker.Update(pod);
        worker.Running = Task.Run(async () =>
        {
            try
            {
                await worker.RunAsync(ct).ConfigureAwait(false);
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                LogWorkerFailed(worker.Namespace, worker.Name, e.ToString());
            }
            finally
            {
                if (!ct.IsCancellationRequested)
                {
                    _workers.TryRemove(uid, out _);
                }
            }
        }, CancellationToken.None);
    }

    /// <summary>Containers and network namespaces of pods that no longer exist (deleted while the agent was away) are removed.</summary>
    private async Task CleanUpOrphansAsync(Informer pods, Dictionary<string, IReadOnlyList<ContainerInfo>> recovered, CancellationToken ct)
    {
        var live = pods.List().Select(p => p["metadata"]!["uid"]!.GetValue<string>()).ToHashSet(StringComparer.Ordinal);
        List<KeyValuePair<string, IReadOnlyList<ContainerInfo>>> orphans;
        lock (recovered)
        {
            orphans = recovered.Where(p => !live.Contains(p.Key)).ToList();
            foreach (var o in orphans)
            {
                recovered.Remove(o.Key);
            }
        }
        foreach (var (uid, containers) in orphans)
        {
            await KillAsync(Runtime, containers, ct).ConfigureAwait(false);
            if (containers.FirstOrDefault() is { } first)
            {
                RemoveLogs(first.Config.Labels.GetValueOrDefault(PodNamespaceLabel, string.Empty), first.Config.Labels.GetValueOrDefault(PodNameLabel, string.Empty), uid);
            }
        }
        if (Network is { } network)
        {
            foreach (var uid in network.KnownPods().Where(u => !live.Contains(u)))
            {
                await network.TearDownAsync(uid, ct).ConfigureAwait(false);
            }
        }
        var podsDir = Path.Combine(_options.DataDir, "pods");
        if (Directory.Exists(podsDir))
        {
            foreach (var dir in Directory.GetDirectories(podsDir).Where(d => !live.Contains(Path.GetFileName(d))))
            {
                await new Volumes.VolumeManager(dir, Runtime.Capabilities.MountNamespaces).TearDownAsync(ct).ConfigureAwait(false);
                Directory.Delete(dir, recursive: true);
            }
        }
    }

    /// <summary>
    /// Stops every pod this agent's data directory knows and removes its network (<c>tug killall</c>): for tearing a
    /// node down, since stopping the agent itself leaves pods running as the kubelet does.
    /// </summary>
    public static async Task KillAllAsync(string dataDir, IContainerRuntime runtime, CancellationToken ct)
    {
        await KillAsync(runtime, runtime.Recover(), ct).ConfigureAwait(false);
        IngressController.Stop(Path.Combine(dataDir, "ingress"));
        var cni = Path.Combine(dataDir, "cni");
        var podsDir = Path.Combine(dataDir, "pods");
        if (Directory.Exists(podsDir))
        {
            foreach (var dir in Directory.GetDirectories(podsDir))
            {
                await new Volumes.VolumeManager(dir, true).TearDownAsync(ct).ConfigureAwait(false);
            }
        }
        if (File.Exists(Path.Combine(cni, "range")) && PodNetwork.FindPlugins() is { } plugins)
        {
            var network = new PodNetwork(cni, plugins, IPNetwork.Parse(File.ReadAllText(Path.Combine(cni, "range")).Trim()), PodNetwork.SavedClusterRanges(cni));
            foreach (var uid in network.KnownPods())
            {
                await network.TearDownAsync(uid, ct).ConfigureAwait(false);
            }
            await network.RemoveStrayNamespacesAsync(ct).ConfigureAwait(false);
            await network.TeardownAsync(ct).ConfigureAwait(false);
        }
    }

    /// <summary>Kills what still runs of <paramref name="containers"/> and forgets them all.</summary>
    private static async Task KillAsync(IContainerRuntime runtime, IEnumerable<ContainerInfo> containers, CancellationToken ct)
    {
        foreach (var c in containers)
        {
            if (c.Status == ContainerStatus.Running)
            {
                await runtime.StopAsync(c.Id, 9, TimeSpan.Zero, ct).ConfigureAwait(false);
            }
            await runtime.DestroyAsync(c.Id, ct).ConfigureAwait(false);
        }
    }

    private static string DefaultNodeIp()
    {
        try
        {
            // The address the machine would use for outside traffic (no packet is sent by a UDP connect).
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            socket.Connect("203.0.113.1", 9);
            if (socket.LocalEndPoint is IPEndPoint local && !IPAddress.IsLoopback(local.Address))
            {
                return local.Address.ToString();
            }
        }
        catch (SocketException)
        {
        }
        return NetworkInterface.GetAllNetworkInterfaces()
            .Where(i => i.OperationalStatus == OperationalStatus.Up && i.NetworkInterfaceType != NetworkInterfaceType.Loopback && !i.Name.StartsWith("tug", StringComparison.Ordinal))
            .SelectMany(i => i.GetIPProperties().UnicastAddresses).Select(a => a.Address).FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork)?.ToString() ?? "127.0.0.1";
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "node {Node} ({Ip}) registered, pod range {Range}, runtime {Runtime}")]
    private partial void LogRegistered(string node, string ip, string range, string runtime);

    [LoggerMessage(Level = LogLevel.Warning, Message = "the ingress controller is off: {Why}")]
    private partial void LogNoIngress(string why);

    [LoggerMessage(Level = LogLevel.Warning, Message = "services are not proxied on this node and pods use the node's resolvers: {Why}")]
    private partial void LogNoServices(string why);

    [LoggerMessage(Level = LogLevel.Warning, Message = "pods use the host's network: {Why}")]
    private partial void LogHostNetworkOnly(string why);

    [LoggerMessage(Level = LogLevel.Error, Message = "pod {Namespace}/{Name}: worker failed: {Error}")]
    private partial void LogWorkerFailed(string @namespace, string name, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "node {Node}: {Error}")]
    private partial void LogNodeFailed(string node, string error);
}
