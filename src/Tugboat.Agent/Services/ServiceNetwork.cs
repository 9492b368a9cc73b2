using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Tugboat.Client;
using Tugboat.Network.Cni;
using Tugboat.Network.Dns;
using Tugboat.Network.Proxy;

namespace Tugboat.Agent.Services;

/// <summary>
/// A node's part of service networking (the kube-proxy and node-local DNS roles): watches Services and
/// EndpointSlices and keeps the node's proxy in step with them (a change is applied within tens of milliseconds of
/// the informer seeing it) — the nftables table, or the userspace proxy's sockets — and serves the cluster DNS: on the
/// bridge's address, where the nftables rules send the cluster DNS service address, or on that address itself when
/// the userspace proxy has made the service range local. Without a pod network (no root) only node ports are
/// proxied and there is no cluster DNS.
/// </summary>
internal sealed partial class ServiceNetwork(ApiClient client, Informer services, PodNetwork? network, ProxyMode mode, string nodeName, IPNetwork serviceCidr, IPAddress clusterDns, string clusterDomain, ILogger logger)
{
    /// <summary>The node's Ingress controller, kept in step with the same Services and EndpointSlices; null when off.</summary>
    public IngressController? Ingress { get; init; }

    /// <summary>The pods running on this node with their addresses, whose host ports the proxy serves.</summary>
    public Func<IEnumerable<(JsonObject Pod, string PodIp)>> LocalPods { get; init; } = () => [];

    /// <summary>A pod of this node with host ports got or lost its address.</summary>
    public void HostPortsChanged() => Changed();

    private readonly SemaphoreSlim _changed = new(0, 1);
    private string? _applied;
    private IReadOnlyList<ProxyPort> _appliedPorts = [];

    /// <summary>The first address of the range plus ten (10.43.0.10 for 10.43.0.0/16), as k3s places its DNS service.</summary>
    public static IPAddress DefaultDnsAddress(IPNetwork serviceCidr)
    {
        var bytes = serviceCidr.BaseAddress.GetAddressBytes();
        bytes[^1] += 10;
        return new IPAddress(bytes);
    }

    public async Task RunAsync(CancellationToken ct)
    {
        var slices = new Informer(client, "/apis/discovery.k8s.io/v1/endpointslices") { StripManagedFields = true };
        Informer[] all = Ingress is { } ingress ? [services, slices, ingress.Ingresses, ingress.Classes, ingress.Secrets] : [services, slices];
        foreach (var informer in all)
        {
            informer.Added += _ => Changed();
            informer.Updated += (before, after) =>
            {
                if (!JsonNode.DeepEquals(before["spec"], after["spec"]) || !JsonNode.DeepEquals(before["endpoints"], after["endpoints"])
                    || !JsonNode.DeepEquals(before["ports"], after["ports"]) || !JsonNode.DeepEquals(before["status"], after["status"])
                    || !JsonNode.DeepEquals(before["data"], after["data"]) || !JsonNode.DeepEquals(before["metadata"]?["annotations"], after["metadata"]?["annotations"]))
                {
                    Changed();
                }
            };
            informer.Deleted += _ => Changed();
        }
        DnsServer? dns = null;
        if (network is not null)
        {
            var listen = mode == ProxyMode.Nftables ? network.Gateway : clusterDns;
            if (mode == ProxyMode.Nftables)
            {
                await network.EnableServicesAsync(serviceCidr, ct).ConfigureAwait(false);
            }
            else
            {
                await network.EnableUserspaceServicesAsync(serviceCidr, ct).ConfigureAwait(false);
            }
            dns = new DnsServer(new IPEndPoint(listen, 53), DnsZone.Empty(clusterDomain), DnsServer.Upstreams("/etc/resolv.conf", listen))
            {
                OnError = e => LogDnsError(e),
            };
        }
        using var userspace = mode == ProxyMode.Userspace ? new UserspaceProxy { ServeClusterIps = network is not null, OnError = e => LogSyncFailed(e) } : null;
        using var _ = dns;
        var serving = dns?.RunAsync(ct) ?? Task.CompletedTask;
        if (dns is not null)
        {
            await EnsureDnsServiceAsync(ct).ConfigureAwait(false);
        }
        if (Ingress is not null)
        {
            await Ingress.StartAsync(ct).ConfigureAwait(false);
        }
        var watching = Task.WhenAll(all.Select(i => i.RunAsync(ct)));
        await Task.WhenAny(Task.WhenAll(all.Select(i => i.Synced)), watching).ConfigureAwait(false);
        if (dns is not null)
        {
            LogStarted(nodeName, mode.ToString().ToLowerInvariant(), clusterDns.ToString(), dns.Endpoint.ToString());
        }
        else
        {
            LogNodePortsOnly(nodeName);
        }
        try
        {
            while (!ct.IsCancellationRequested)
            {
                try
                {
                    await SyncAsync(services, slices, dns, userspace, ct).ConfigureAwait(false);
                }
                catch (InvalidOperationException e)
                {
                    // nft refused the table: keep the last good one and try again shortly.
                    LogSyncFailed(e.Message);
                    _applied = null;
                    await Task.Delay(TimeSpan.FromSeconds(1), ct).ConfigureAwait(false);
                    continue;
                }
                await _changed.WaitAsync(ct).ConfigureAwait(false);
                // Changes that arrive together (a rollout's slice and service updates) are applied together.
                await Task.Delay(TimeSpan.FromMilliseconds(20), ct).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        await Task.WhenAll(serving, watching).ConfigureAwait(false);
    }

    /// <summary>
    /// The <c>kube-system/kube-dns</c> Service at the cluster DNS address, as clusters with CoreDNS have it (so that
    /// the address is taken and the name resolves). It has no selector: its server is each node's own, where the
    /// proxy sends the address.
    /// </summary>
    private async Task EnsureDnsServiceAsync(CancellationToken ct)
    {
        try
        {
            // Looked for first: creating it again would be refused for its address (allocated to it), not its name.
            try
            {
                await client.GetAsync("/api/v1/namespaces/kube-system/services/kube-dns", ct).ConfigureAwait(false);
                return;
            }
            catch (ApiError e) when (e.IsNotFound)
            {
            }
            await client.CreateAsync("/api/v1/namespaces/kube-system/services", new JsonObject
            {
                ["apiVersion"] = "v1",
                ["kind"] = "Service",
                ["metadata"] = new JsonObject
                {
                    ["name"] = "kube-dns",
                    ["namespace"] = "kube-system",
                    ["labels"] = new JsonObject { ["k8s-app"] = "kube-dns", ["kubernetes.io/name"] = "CoreDNS" },
                },
                ["spec"] = new JsonObject
                {
                    ["clusterIP"] = clusterDns.ToString(),
                    ["ports"] = new JsonArray(
                        new JsonObject { ["name"] = "dns", ["port"] = 53, ["protocol"] = "UDP", ["targetPort"] = 53 },
                        new JsonObject { ["name"] = "dns-tcp", ["port"] = 53, ["protocol"] = "TCP", ["targetPort"] = 53 }),
                },
            }, ct).ConfigureAwait(false);
        }
        catch (ApiError e) when (e.IsAlreadyExists)
        {
        }
        catch (ApiError e)
        {
            LogSyncFailed($"the kube-dns Service could not be created: {e.Message}");
        }
    }

    private void Changed()
    {
        try
        {
            _changed.Release();
        }
        catch (SemaphoreFullException)
        {
            // A sync is already due.
        }
    }

    private async Task SyncAsync(Informer services, Informer slices, DnsServer? dns, UserspaceProxy? userspace, CancellationToken ct)
    {
        var allServices = services.List();
        var allSlices = slices.List();
        dns?.Zone = DnsZone.Build(allServices, allSlices, clusterDomain);
        var ports = ServiceTable.Build(allServices, allSlices, nodeName);
        ports = [.. ports, .. ServiceTable.HostPorts(LocalPods(), ports, nodeName)];
        if (userspace is not null)
        {
            userspace.Apply(ports);
        }
        else if (network is not null)
        {
            await ApplyTableAsync(network, ports, ct).ConfigureAwait(false);
        }
        if (Ingress is not null)
        {
            try
            {
                await Ingress.SyncAsync(allServices, allSlices, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is InvalidOperationException or IOException or ApiError)
            {
                LogIngressFailed(e.Message);
            }
        }
    }

    private async Task ApplyTableAsync(PodNetwork network, IReadOnlyList<ProxyPort> ports, CancellationToken ct)
    {
        var ruleset = new NftRuleset
        {
            Table = network.BridgeName,
            Bridge = network.BridgeName,
            PodRange = network.PodRange,
            ServiceRanges = [serviceCidr],
            Dns = (clusterDns, network.Gateway),
            Ports = ports,
        };
        var script = ruleset.Render();
        if (script != _applied)
        {
            // Sticky clients are carried over from the table being replaced (with the time they have left), also
            // from one an earlier run of the agent left.
            if (ports.Any(p => p.AffinitySeconds > 0))
            {
                ruleset = ruleset with { Affinity = await PodNetwork.AffinityOfAsync(network.BridgeName, ct).ConfigureAwait(false) };
            }
            await PodNetwork.NftAsync(ruleset.Render(), ct).ConfigureAwait(false);
            _applied = script;
            var before = _appliedPorts;
            _appliedPorts = ports;
            await ClearStaleUdpAsync(before, ports, ct).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// What kube-proxy does for UDP after a change: tracked flows keep their NAT decision for as long as packets keep
    /// coming, so flows to endpoints that went are deleted (they would go on to a dead address), and so are flows to a
    /// service address or node port that had no endpoint (they were refused, and would stay refused).
    /// </summary>
    private static async Task ClearStaleUdpAsync(IReadOnlyList<ProxyPort> before, IReadOnlyList<ProxyPort> after, CancellationToken ct)
    {
        if (!PodNetwork.HasConntrack())
        {
            return;
        }
        static string Key(ProxyPort p) => $"{p.Namespace}/{p.Service}/{p.PortName}/{p.Protocol}/{p.Port}/{string.Join(',', p.ExternalIps)}";
        static Dictionary<string, ProxyPort> Udp(IReadOnlyList<ProxyPort> ports) => ports.Where(p => p.Protocol == "UDP").GroupBy(Key).ToDictionary(g => g.Key, g => g.First());
        var (had, now) = (Udp(before), Udp(after));
        foreach (var old in had.Values)
        {
            var current = now.GetValueOrDefault(Key(old));
            var remaining = current is null ? [] : current.ClusterEndpoints.Concat(current.ExternalEndpoints).Select(e => e.Ip).ToHashSet(StringComparer.Ordinal);
            foreach (var gone in old.ClusterEndpoints.Concat(old.ExternalEndpoints).Select(e => e.Ip).Distinct().Where(ip => !remaining.Contains(ip)))
            {
                foreach (var ip in old.ClusterIps.Concat(old.ExternalIps))
                {
                    await PodNetwork.ConntrackDeleteAsync(["-p", "udp", "--orig-dst", ip, "--dst-nat", gone], ct).ConfigureAwait(false);
                }
                if (old.NodePort > 0)
                {
                    await PodNetwork.ConntrackDeleteAsync(["-p", "udp", "--dport", old.NodePort.ToString(System.Globalization.CultureInfo.InvariantCulture), "--dst-nat", gone], ct).ConfigureAwait(false);
                }
            }
        }
        foreach (var port in now.Values)
        {
            var previous = had.GetValueOrDefault(Key(port));
            if (port.ClusterEndpoints.Count > 0 && previous?.ClusterEndpoints.Count is null or 0)
            {
                foreach (var ip in port.ClusterIps)
                {
                    await PodNetwork.ConntrackDeleteAsync(["-p", "udp", "--orig-dst", ip, "--orig-port-dst", port.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)], ct).ConfigureAwait(false);
                }
            }
            if (port.NodePort > 0 && port.ExternalEndpoints.Count > 0 && previous?.ExternalEndpoints.Count is null or 0)
            {
                await PodNetwork.ConntrackDeleteAsync(["-p", "udp", "--orig-port-dst", port.NodePort.ToString(System.Globalization.CultureInfo.InvariantCulture)], ct).ConfigureAwait(false);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "ingress: {Error}")]
    private partial void LogIngressFailed(string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "node {Node} proxies services ({Mode}); cluster DNS {Dns} served at {Endpoint}")]
    private partial void LogStarted(string node, string mode, string dns, string endpoint);

    [LoggerMessage(Level = LogLevel.Warning, Message = "node {Node} proxies node ports only (userspace): cluster IPs and the cluster DNS need a pod network (root and the CNI plugins)")]
    private partial void LogNodePortsOnly(string node);

    [LoggerMessage(Level = LogLevel.Warning, Message = "service proxy: {Error}")]
    private partial void LogSyncFailed(string error);

    [LoggerMessage(Level = LogLevel.Debug, Message = "cluster DNS: {Error}")]
    private partial void LogDnsError(string error);
}
