using System.Collections.Concurrent;
using System.Globalization;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Tugboat.Agent.Runtime;
using Api = Tugboat.Agent.Runtimes.Cri.Api;

namespace Tugboat.Agent.Runtimes.Cri;

/// <summary>
/// Pods as the kubelet runs them through the CRI: a sandbox per pod (containerd sets up its network with the node's
/// CNI configuration, its host name and shared namespaces), containers created from images with the pod's command,
/// environment, mounts, resources and security settings, logs written by the runtime in the CRI format. Container
/// exits are found by listing the runtime's containers every second, as the kubelet's generic PLEG relists
/// (containerd 1.6 has no event stream for the CRI).
/// </summary>
internal sealed partial class CriRuntime : IContainerRuntime, ISandboxRuntime, IImageRuntime, IExecSyncRuntime, IStreamingRuntime, IStatsRuntime, IDisposable
{
    /// <summary>The label every sandbox carries with its pod's UID (the kubelet's io.kubernetes.pod.uid).</summary>
    public const string PodUidLabel = Kubelet.NodeAgent.PodUidLabel;

    private readonly CriClient _client;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, Tracked> _containers = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (string Id, Api.PodSandboxConfig Config)> _sandboxes = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<string, Runtime.ContainerStats> _stats = new(StringComparer.Ordinal);
    private long _lastStatsTick;
    private readonly Task _relist;

    private sealed class Tracked(ContainerConfig config, DateTimeOffset startedAt)
    {
        public ContainerConfig Config { get; } = config;

        public DateTimeOffset StartedAt { get; set; } = startedAt;

        public TaskCompletionSource<ContainerExit> Exited { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    public CriRuntime(CriClient client, Api.VersionResponse version, ILogger logger)
    {
        _client = client;
        _logger = logger;
        Name = version.RuntimeName;
        Version = $"{version.RuntimeName}://{version.RuntimeVersion}";
        _relist = RelistAsync(_stop.Token);
    }

    public string Name { get; }

    public string Version { get; }

    public RuntimeCapabilities Capabilities { get; } = new(NetworkNamespaces: true, MountNamespaces: true, ResourceLimits: true);

    private static CallOptions Call(CancellationToken ct, TimeSpan? timeout = null) => CriClient.Options(ct, timeout);

    // ---- sandboxes ----

    public async Task<string> RunSandboxAsync(SandboxConfig config, CancellationToken ct)
    {
        if (_sandboxes.TryGetValue(config.PodUid, out var known) && await ReadySandboxIpAsync(known.Id, config, ct).ConfigureAwait(false) is { } ip)
        {
            return ip;
        }
        // After an agent restart the pod's sandbox may still be there.
        var existing = await _client.Runtime.ListPodSandboxAsync(new Api.ListPodSandboxRequest
        {
            Filter = new Api.PodSandboxFilter { LabelSelector = { [PodUidLabel] = config.PodUid } },
        }, Call(ct)).ConfigureAwait(false);
        foreach (var sandbox in existing.Items.Where(s => s.State == Api.PodSandboxState.SandboxReady).OrderByDescending(s => s.CreatedAt))
        {
            if (await ReadySandboxIpAsync(sandbox.Id, config, ct).ConfigureAwait(false) is { } found)
            {
                _sandboxes[config.PodUid] = (sandbox.Id, SandboxSpec(config, sandbox.Metadata?.Attempt ?? 0));
                return found;
            }
        }
        // Sandboxes that are no longer ready are removed before a new attempt, as the kubelet does.
        foreach (var dead in existing.Items.Where(s => s.State != Api.PodSandboxState.SandboxReady))
        {
            await RemoveSandboxByIdAsync(dead.Id, ct).ConfigureAwait(false);
        }
        var attempt = (uint)existing.Items.Count;
        Directory.CreateDirectory(config.LogDirectory);
        var request = new Api.RunPodSandboxRequest { Config = SandboxSpec(config, attempt), RuntimeHandler = config.RuntimeHandler };
        string id;
        try
        {
            id = (await _client.Runtime.RunPodSandboxAsync(request, Call(ct, TimeSpan.FromMinutes(4))).ConfigureAwait(false)).PodSandboxId;
        }
        catch (RpcException e) when (!ct.IsCancellationRequested)
        {
            throw new InvalidOperationException(Detail(e));
        }
        _sandboxes[config.PodUid] = (id, request.Config);
        return await ReadySandboxIpAsync(id, config, ct).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"sandbox {id} of pod {config.PodNamespace}/{config.PodName} is not ready after it was created");
    }

    private async Task<string?> ReadySandboxIpAsync(string id, SandboxConfig config, CancellationToken ct)
    {
        try
        {
            var status = (await _client.Runtime.PodSandboxStatusAsync(new Api.PodSandboxStatusRequest { PodSandboxId = id }, Call(ct)).ConfigureAwait(false)).Status;
            if (status.State != Api.PodSandboxState.SandboxReady)
            {
                return null;
            }
            // Host-network pods have the node's address, which the agent knows.
            return config.HostNetwork ? string.Empty : status.Network?.Ip is { Length: > 0 } ip ? ip : null;
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
        {
            return null;
        }
    }

    private static Api.PodSandboxConfig SandboxSpec(SandboxConfig config, uint attempt)
    {
        var spec = new Api.PodSandboxConfig
        {
            Metadata = new Api.PodSandboxMetadata { Name = config.PodName, Namespace = config.PodNamespace, Uid = config.PodUid, Attempt = attempt },
            LogDirectory = config.LogDirectory,
            Labels = { [PodUidLabel] = config.PodUid, ["io.kubernetes.pod.name"] = config.PodName, ["io.kubernetes.pod.namespace"] = config.PodNamespace },
            Linux = new Api.LinuxPodSandboxConfig
            {
                SecurityContext = new Api.LinuxSandboxSecurityContext
                {
                    NamespaceOptions = new Api.NamespaceOption
                    {
                        Network = config.HostNetwork ? Api.NamespaceMode.Node : Api.NamespaceMode.Pod,
                        Pid = config.HostPid ? Api.NamespaceMode.Node : config.ShareProcessNamespace ? Api.NamespaceMode.Pod : Api.NamespaceMode.Container,
                        Ipc = config.HostIpc ? Api.NamespaceMode.Node : Api.NamespaceMode.Pod,
                    },
                },
            },
        };
        if (config.Hostname is { } hostname && !config.HostNetwork)
        {
            spec.Hostname = hostname;
        }
        foreach (var (key, value) in config.Labels)
        {
            spec.Labels[key] = value;
        }
        foreach (var (protocol, containerPort, hostPort, hostIp) in config.PortMappings)
        {
            spec.PortMappings.Add(new Api.PortMapping
            {
                Protocol = protocol switch { "UDP" => Api.Protocol.Udp, "SCTP" => Api.Protocol.Sctp, _ => Api.Protocol.Tcp },
                ContainerPort = containerPort,
                HostPort = hostPort,
                HostIp = hostIp,
            });
        }
        return spec;
    }

    public async Task RemoveSandboxAsync(string podUid, CancellationToken ct)
    {
        var ids = new HashSet<string>(StringComparer.Ordinal);
        if (_sandboxes.TryRemove(podUid, out var known))
        {
            ids.Add(known.Id);
        }
        var listed = await _client.Runtime.ListPodSandboxAsync(new Api.ListPodSandboxRequest
        {
            Filter = new Api.PodSandboxFilter { LabelSelector = { [PodUidLabel] = podUid } },
        }, Call(ct)).ConfigureAwait(false);
        ids.UnionWith(listed.Items.Select(s => s.Id));
        foreach (var id in ids)
        {
            await RemoveSandboxByIdAsync(id, ct).ConfigureAwait(false);
        }
    }

    private async Task RemoveSandboxByIdAsync(string id, CancellationToken ct)
    {
        try
        {
            await _client.Runtime.StopPodSandboxAsync(new Api.StopPodSandboxRequest { PodSandboxId = id }, Call(ct)).ConfigureAwait(false);
            await _client.Runtime.RemovePodSandboxAsync(new Api.RemovePodSandboxRequest { PodSandboxId = id }, Call(ct)).ConfigureAwait(false);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
        {
        }
    }

    // ---- containers ----

    public async Task<string> StartAsync(ContainerConfig config, CancellationToken ct)
    {
        var podUid = config.Labels.GetValueOrDefault(Kubelet.NodeAgent.PodUidLabel)
            ?? throw new ContainerStartException("CreateContainerError", "the container names no pod");
        if (!_sandboxes.TryGetValue(podUid, out var sandbox))
        {
            throw new ContainerStartException("CreateContainerError", $"pod {podUid} has no sandbox");
        }
        var spec = ContainerSpec(config, sandbox.Config.LogDirectory);
        string id;
        try
        {
            // The sandbox's configuration goes with every create, as the kubelet sends it (containerd needs its metadata).
            var request = new Api.CreateContainerRequest { PodSandboxId = sandbox.Id, Config = spec, SandboxConfig = sandbox.Config };
            id = (await _client.Runtime.CreateContainerAsync(request, Call(ct)).ConfigureAwait(false)).ContainerId;
        }
        catch (RpcException e) when (!ct.IsCancellationRequested)
        {
            throw new ContainerStartException("CreateContainerError", Detail(e));
        }
        var tracked = new Tracked(config, DateTimeOffset.UtcNow);
        _containers[id] = tracked;
        try
        {
            await _client.Runtime.StartContainerAsync(new Api.StartContainerRequest { ContainerId = id }, Call(ct)).ConfigureAwait(false);
        }
        catch (RpcException e) when (!ct.IsCancellationRequested)
        {
            _containers.TryRemove(id, out _);
            await RemoveContainerQuietlyAsync(id).ConfigureAwait(false);
            // As containerd reports such a container: terminated with StartError (the kubelet then backs off).
            throw new ContainerStartException("StartError", Detail(e));
        }
        tracked.StartedAt = DateTimeOffset.UtcNow;
        return id;
    }

    public async Task<(long? Uid, string Username)?> ImageUserAsync(string image, CancellationToken ct)
    {
        var status = await _client.Images.ImageStatusAsync(new Api.ImageStatusRequest { Image = new Api.ImageSpec { Image = image } }, Call(ct)).ConfigureAwait(false);
        return status.Image is { } found ? (found.Uid?.Value, found.Username) : null;
    }

    private static Api.ContainerConfig ContainerSpec(ContainerConfig config, string logDirectory)
    {
        var attempt = uint.TryParse(config.Labels.GetValueOrDefault(Kubelet.NodeAgent.AttemptLabel), NumberStyles.None, CultureInfo.InvariantCulture, out var a) ? a : 0;
        var spec = new Api.ContainerConfig
        {
            Metadata = new Api.ContainerMetadata { Name = config.Labels.GetValueOrDefault(Kubelet.NodeAgent.ContainerLabel, "container"), Attempt = attempt },
            Image = new Api.ImageSpec { Image = config.Image },
            WorkingDir = config.WorkingDir ?? string.Empty,
            LogPath = Path.GetRelativePath(logDirectory, config.LogPath),
            Stdin = config.Stdin,
            StdinOnce = config.StdinOnce,
            Tty = config.Tty,
            Linux = new Api.LinuxContainerConfig
            {
                Resources = Resources(config),
                SecurityContext = new Api.LinuxContainerSecurityContext
                {
                    Privileged = config.Privileged,
                    ReadonlyRootfs = config.ReadOnlyRootFilesystem,
                    NoNewPrivs = !config.AllowPrivilegeEscalation,
                    NamespaceOptions = new Api.NamespaceOption { Pid = Api.NamespaceMode.Container },
                },
            },
        };
        if (config.ImageCommand.Count == 0 && config.ImageArgs.Count == 0)
        {
            // Only the executable and its arguments were given: they replace the image's entrypoint and command.
            spec.Command.AddRange(config.Command);
        }
        else
        {
            spec.Command.AddRange(config.ImageCommand);
            spec.Args.AddRange(config.ImageArgs);
        }
        foreach (var (key, value) in config.Env)
        {
            spec.Envs.Add(new Api.KeyValue { Key = key, Value = value });
        }
        foreach (var m in config.Mounts)
        {
            spec.Mounts.Add(new Api.Mount { ContainerPath = m.Target, HostPath = m.Source, Readonly = m.ReadOnly });
        }
        foreach (var (key, value) in config.Labels)
        {
            spec.Labels[key] = value;
        }
        var security = spec.Linux.SecurityContext;
        if (config.RunAsUser is { } user)
        {
            security.RunAsUser = new Api.Int64Value { Value = user };
        }
        if (config.RunAsGroup is { } group)
        {
            security.RunAsGroup = new Api.Int64Value { Value = group };
        }
        security.SupplementalGroups.AddRange(config.SupplementalGroups);
        if (config.CapabilitiesAdd.Count > 0 || config.CapabilitiesDrop.Count > 0)
        {
            // The CRI takes capability names without CAP_ (as the pod spec writes them).
            security.Capabilities = new Api.Capability();
            security.Capabilities.AddCapabilities.AddRange(config.CapabilitiesAdd);
            security.Capabilities.DropCapabilities.AddRange(config.CapabilitiesDrop);
        }
        return spec;
    }

    /// <summary>The kubelet's conversion of requests and limits: CPU shares from the request, quota from the limit, memory limit, OOM score.</summary>
    private static Api.LinuxContainerResources Resources(ContainerConfig config)
    {
        var resources = new Api.LinuxContainerResources { OomScoreAdj = config.OomScoreAdj };
        // 1,024 shares per CPU, at least 2 (the kernel's minimum), as the kubelet's MilliCPUToShares.
        resources.CpuShares = config.CpuRequestMillis is { } request ? Math.Max(2, request * 1024 / 1000) : 2;
        if (config.CpuMillis is { } limit)
        {
            resources.CpuPeriod = 100_000;
            resources.CpuQuota = Math.Max(1_000, limit * 100_000 / 1000);
        }
        if (config.MemoryBytes is { } memory)
        {
            resources.MemoryLimitInBytes = memory;
        }
        return resources;
    }

    public async Task<ContainerExit> WaitAsync(string id, CancellationToken ct)
    {
        if (!_containers.TryGetValue(id, out var tracked))
        {
            return await ExitOfAsync(id, ct).ConfigureAwait(false)
                ?? new ContainerExit(137, "ContainerStatusUnknown", DateTimeOffset.UtcNow, "The container could not be located when the pod was terminated");
        }
        return await tracked.Exited.Task.WaitAsync(ct).ConfigureAwait(false);
    }

    public async Task<ContainerExit> StopAsync(string id, int signal, TimeSpan timeout, CancellationToken ct)
    {
        // The CRI stops with the image's stop signal and kills after the timeout; a SIGKILL asked for is a stop without one.
        var seconds = signal == 9 ? 0 : (long)Math.Ceiling(timeout.TotalSeconds);
        try
        {
            await _client.Runtime.StopContainerAsync(new Api.StopContainerRequest { ContainerId = id, Timeout = seconds }, Call(ct, timeout + CriClient.CallTimeout)).ConfigureAwait(false);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
        {
        }
        var exit = await ExitOfAsync(id, ct).ConfigureAwait(false)
            ?? new ContainerExit(137, "ContainerStatusUnknown", DateTimeOffset.UtcNow, "The container could not be located when the pod was terminated");
        if (_containers.TryGetValue(id, out var tracked))
        {
            tracked.Exited.TrySetResult(exit);
        }
        return exit;
    }

    public async Task DestroyAsync(string id, CancellationToken ct)
    {
        _containers.TryRemove(id, out _);
        try
        {
            await _client.Runtime.RemoveContainerAsync(new Api.RemoveContainerRequest { ContainerId = id }, Call(ct)).ConfigureAwait(false);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
        {
        }
    }

    private async Task RemoveContainerQuietlyAsync(string id)
    {
        try
        {
            await _client.Runtime.RemoveContainerAsync(new Api.RemoveContainerRequest { ContainerId = id }, Call(CancellationToken.None)).ConfigureAwait(false);
        }
        catch (RpcException)
        {
        }
    }

    public IReadOnlyList<ContainerInfo> List() =>
        _containers.Select(c => new ContainerInfo(c.Key, c.Value.Config, c.Value.Exited.Task.IsCompletedSuccessfully ? ContainerStatus.Exited : ContainerStatus.Running,
            c.Value.StartedAt, c.Value.Exited.Task.IsCompletedSuccessfully ? c.Value.Exited.Task.Result : null)).ToList();

    public ContainerInfo? Inspect(string id) =>
        _containers.TryGetValue(id, out var c)
            ? new ContainerInfo(id, c.Config, c.Exited.Task.IsCompletedSuccessfully ? ContainerStatus.Exited : ContainerStatus.Running, c.StartedAt,
                c.Exited.Task.IsCompletedSuccessfully ? c.Exited.Task.Result : null)
            : null;

    public IReadOnlyList<ContainerInfo> Recover()
    {
        var recovered = new List<ContainerInfo>();
        var sandboxes = _client.Runtime.ListPodSandbox(new Api.ListPodSandboxRequest(), Call(CancellationToken.None));
        foreach (var s in sandboxes.Items.Where(s => s.State == Api.PodSandboxState.SandboxReady && s.Labels.ContainsKey(PodUidLabel)))
        {
            var status = _client.Runtime.PodSandboxStatus(new Api.PodSandboxStatusRequest { PodSandboxId = s.Id, Verbose = true }, Call(CancellationToken.None));
            var config = new Api.PodSandboxConfig { Metadata = s.Metadata, LogDirectory = LogDirectoryOf(status) };
            config.Labels.Add(s.Labels);
            config.Annotations.Add(s.Annotations);
            _sandboxes[s.Labels[PodUidLabel]] = (s.Id, config);
        }
        var containers = _client.Runtime.ListContainers(new Api.ListContainersRequest(), Call(CancellationToken.None));
        foreach (var c in containers.Containers.Where(c => c.Labels.ContainsKey(Kubelet.NodeAgent.PodUidLabel)))
        {
            Api.ContainerStatus status;
            try
            {
                status = _client.Runtime.ContainerStatus(new Api.ContainerStatusRequest { ContainerId = c.Id }, Call(CancellationToken.None)).Status;
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
            {
                continue;
            }
            var config = new ContainerConfig
            {
                Labels = new Dictionary<string, string>(c.Labels, StringComparer.Ordinal),
                Image = c.Image?.Image ?? string.Empty,
                Command = [],
                LogPath = status.LogPath,
            };
            var tracked = new Tracked(config, FromNanos(status.StartedAt));
            var exit = status.State == Api.ContainerState.ContainerExited ? ExitOf(status) : null;
            if (exit is not null)
            {
                tracked.Exited.TrySetResult(exit);
            }
            _containers[c.Id] = tracked;
            recovered.Add(new ContainerInfo(c.Id, config, exit is null ? ContainerStatus.Running : ContainerStatus.Exited, tracked.StartedAt, exit));
        }
        return recovered;
    }

    private static string LogDirectoryOf(Api.PodSandboxStatusResponse status) =>
        status.Info.TryGetValue("info", out var info) && System.Text.Json.Nodes.JsonNode.Parse(info)?["config"]?["log_directory"]?.GetValue<string>() is { } dir ? dir : string.Empty;

    private async Task<ContainerExit?> ExitOfAsync(string id, CancellationToken ct)
    {
        try
        {
            var status = (await _client.Runtime.ContainerStatusAsync(new Api.ContainerStatusRequest { ContainerId = id }, Call(ct)).ConfigureAwait(false)).Status;
            return status.State == Api.ContainerState.ContainerExited ? ExitOf(status) : null;
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
        {
            return null;
        }
    }

    private static ContainerExit ExitOf(Api.ContainerStatus status)
    {
        var reason = status.Reason is { Length: > 0 } r ? r : status.ExitCode == 0 ? "Completed" : "Error";
        return new ContainerExit(status.ExitCode, reason, FromNanos(status.FinishedAt), status.Message is { Length: > 0 } m ? m : null);
    }

    private static DateTimeOffset FromNanos(long nanos) => nanos <= 0 ? DateTimeOffset.UtcNow : DateTimeOffset.UnixEpoch.AddTicks(nanos / 100);

    /// <summary>Every second: the runtime's exited containers complete their waits (the generic PLEG's relist).</summary>
    private async Task RelistAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(1), ct).ConfigureAwait(false);
                if (Environment.TickCount64 - _lastStatsTick >= 5_000 && !_containers.IsEmpty)
                {
                    _lastStatsTick = Environment.TickCount64;
                    await SampleStatsAsync(ct).ConfigureAwait(false);
                }
                if (_containers.Values.All(c => c.Exited.Task.IsCompleted))
                {
                    continue;
                }
                var exited = await _client.Runtime.ListContainersAsync(new Api.ListContainersRequest
                {
                    Filter = new Api.ContainerFilter { State = new Api.ContainerStateValue { State = Api.ContainerState.ContainerExited } },
                }, Call(ct)).ConfigureAwait(false);
                foreach (var c in exited.Containers)
                {
                    if (_containers.TryGetValue(c.Id, out var tracked) && !tracked.Exited.Task.IsCompleted && await ExitOfAsync(c.Id, ct).ConfigureAwait(false) is { } exit)
                    {
                        tracked.Exited.TrySetResult(exit);
                    }
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (RpcException e)
            {
                LogRelistFailed(e.Status.Detail);
                await Task.Delay(TimeSpan.FromSeconds(2), ct).ConfigureAwait(false);
            }
        }
    }

    // ---- stats ----

    public Runtime.ContainerStats? Stats(string id) => _stats.GetValueOrDefault(id);

    /// <summary>CPU time and working set of every container, from the runtime's cgroup accounting (every five seconds).</summary>
    private async Task SampleStatsAsync(CancellationToken ct)
    {
        var listed = await _client.Runtime.ListContainerStatsAsync(new Api.ListContainerStatsRequest(), Call(ct)).ConfigureAwait(false);
        foreach (var s in listed.Stats)
        {
            if (s.Attributes?.Id is not { } id)
            {
                continue;
            }
            var at = s.Cpu?.Timestamp is > 0 and var nanos ? DateTimeOffset.UnixEpoch.AddTicks(nanos / 100) : DateTimeOffset.UtcNow;
            _stats[id] = new Runtime.ContainerStats(at, TimeSpan.FromTicks((long)((s.Cpu?.UsageCoreNanoSeconds?.Value ?? 0) / 100)), (long)(s.Memory?.WorkingSetBytes?.Value ?? 0));
        }
        foreach (var gone in _stats.Keys.Where(k => !_containers.ContainsKey(k)).ToList())
        {
            _stats.TryRemove(gone, out _);
        }
    }

    // ---- exec, attach ----

    public async Task<(int ExitCode, string Output)> ExecSyncAsync(string id, IReadOnlyList<string> command, TimeSpan timeout, CancellationToken ct)
    {
        var request = new Api.ExecSyncRequest { ContainerId = id, Timeout = Math.Max(1, (long)Math.Ceiling(timeout.TotalSeconds)) };
        request.Cmd.AddRange(command);
        try
        {
            var result = await _client.Runtime.ExecSyncAsync(request, Call(ct, timeout + TimeSpan.FromSeconds(5))).ConfigureAwait(false);
            return (result.ExitCode, result.Stdout.ToStringUtf8() + result.Stderr.ToStringUtf8());
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.DeadlineExceeded || e.Status.Detail.Contains("timeout", StringComparison.OrdinalIgnoreCase))
        {
            throw new TimeoutException($"command \"{string.Join(' ', command)}\" timed out");
        }
        catch (RpcException e) when (!ct.IsCancellationRequested)
        {
            throw new ContainerStartException("RunContainerError", Detail(e));
        }
    }

    public async Task<Uri> ExecUrlAsync(string id, IReadOnlyList<string> command, bool tty, bool stdin, bool stdout, bool stderr, CancellationToken ct)
    {
        var request = new Api.ExecRequest { ContainerId = id, Tty = tty, Stdin = stdin, Stdout = stdout, Stderr = stderr && !tty };
        request.Cmd.AddRange(command);
        try
        {
            return new Uri((await _client.Runtime.ExecAsync(request, Call(ct)).ConfigureAwait(false)).Url);
        }
        catch (RpcException e) when (!ct.IsCancellationRequested)
        {
            throw new ContainerStartException("RunContainerError", Detail(e));
        }
    }

    public async Task<Uri> AttachUrlAsync(string id, bool tty, bool stdin, bool stdout, bool stderr, CancellationToken ct)
    {
        var request = new Api.AttachRequest { ContainerId = id, Tty = tty, Stdin = stdin, Stdout = stdout, Stderr = stderr && !tty };
        try
        {
            return new Uri((await _client.Runtime.AttachAsync(request, Call(ct)).ConfigureAwait(false)).Url);
        }
        catch (RpcException e) when (!ct.IsCancellationRequested)
        {
            throw new ContainerStartException("RunContainerError", Detail(e));
        }
    }

    // ---- images ----

    public async Task<ImagePullResult> EnsureImageAsync(string image, string pullPolicy, IReadOnlyList<RegistryCredential> credentials, CancellationToken ct)
    {
        var spec = new Api.ImageSpec { Image = image };
        Api.ImageStatusResponse present;
        try
        {
            present = await _client.Images.ImageStatusAsync(new Api.ImageStatusRequest { Image = spec }, Call(ct)).ConfigureAwait(false);
        }
        catch (RpcException e) when (e.StatusCode is StatusCode.InvalidArgument or StatusCode.Unknown && !ct.IsCancellationRequested)
        {
            throw new ImagePullException("InvalidImageName", $"Failed to apply default image tag \"{image}\": {Detail(e)}");
        }
        if (present.Image is { } found && pullPolicy != "Always")
        {
            return new ImagePullResult(false, TimeSpan.Zero, (long)found.Size);
        }
        if (pullPolicy == "Never")
        {
            throw new ImagePullException("ErrImageNeverPull", $"Container image \"{image}\" is not present with pull policy of Never");
        }
        var started = System.Diagnostics.Stopwatch.StartNew();
        var request = new Api.PullImageRequest { Image = spec };
        var registry = RegistryOf(image);
        if (credentials.FirstOrDefault(c => string.Equals(c.Registry, registry, StringComparison.OrdinalIgnoreCase)
            || (registry == "docker.io" && c.Registry is "index.docker.io" or "https://index.docker.io/v1/" or "registry-1.docker.io")) is { } login)
        {
            request.Auth = new Api.AuthConfig
            {
                Username = login.Username ?? string.Empty,
                Password = login.Password ?? string.Empty,
                Auth = login.Auth ?? string.Empty,
                IdentityToken = login.IdentityToken ?? string.Empty,
                ServerAddress = login.Registry,
            };
        }
        try
        {
            await _client.Images.PullImageAsync(request, Call(ct, TimeSpan.FromMinutes(10))).ConfigureAwait(false);
        }
        catch (RpcException e) when (!ct.IsCancellationRequested)
        {
            throw new ImagePullException("ErrImagePull", Detail(e));
        }
        var pulled = await _client.Images.ImageStatusAsync(new Api.ImageStatusRequest { Image = spec }, Call(ct)).ConfigureAwait(false);
        return new ImagePullResult(true, started.Elapsed, (long)(pulled.Image?.Size ?? 0));
    }

    /// <summary>The registry host of an image reference (docker.io when it names none).</summary>
    internal static string RegistryOf(string image)
    {
        var slash = image.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0)
        {
            return "docker.io";
        }
        var first = image[..slash];
        return first.Contains('.', StringComparison.Ordinal) || first.Contains(':', StringComparison.Ordinal) || first == "localhost" ? first : "docker.io";
    }

    public async Task<IReadOnlyList<(IReadOnlyList<string> Names, long SizeBytes)>> ListImagesAsync(CancellationToken ct)
    {
        var images = await _client.Images.ListImagesAsync(new Api.ListImagesRequest(), Call(ct)).ConfigureAwait(false);
        return images.Images.Select(i => ((IReadOnlyList<string>)i.RepoDigests.Concat(i.RepoTags).ToList(), (long)i.Size)).ToList();
    }

    /// <summary>A CRI error as the kubelet shows it (Go's gRPC status text).</summary>
    private static string Detail(RpcException e) => $"rpc error: code = {e.StatusCode} desc = {e.Status.Detail}";

    public void Dispose()
    {
        _stop.Cancel();
        try
        {
            _relist.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
        }
        _stop.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "listing the runtime's containers failed: {Error}")]
    private partial void LogRelistFailed(string error);
}
