using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Tugboat.Agent.Probes;
using Tugboat.Agent.Runtime;
using Tugboat.Agent.Volumes;
using Tugboat.Api.Meta;
using Tugboat.Api.Serialization;
using Tugboat.Client;

namespace Tugboat.Agent.Kubelet;

/// <summary>
/// Runs one pod on this node from start to finish, as the kubelet's pod worker: sandbox (network namespace, volumes,
/// hosts and resolv.conf), init containers in order, then the app containers each under a supervisor (restart policy,
/// CrashLoopBackOff, probes), and on deletion preStop hooks, SIGTERM, the grace period, SIGKILL and clean-up. Status is
/// always written from what it observed.
/// </summary>
internal sealed partial class PodWorker
{
    private const int SigTerm = 15;
    private const int SigKill = 9;

    private readonly NodeAgent _agent;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private JsonObject _pod;
    private readonly List<ContainerRecord> _init = [];
    private readonly List<ContainerRecord> _app = [];
    private readonly SemaphoreSlim _statusSignal = new(0);
    private readonly TaskCompletionSource _terminate = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private ImagePuller? _images;
    private readonly TaskCompletionSource _deadlineExceeded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private (string Reason, string Message)? _failure;
    private readonly CancellationTokenSource _containersCts = new();
    private readonly Dictionary<string, List<ContainerInfo>> _recovered;
    private VolumeManager? _volumes;
    private string? _podIp;
    private bool _sandboxReady;
    private DateTimeOffset _startTime;
    private string? _phaseOverride;
    private string? _lastStatusJson;
    private bool _forceRemoved;

    public PodWorker(NodeAgent agent, JsonObject pod, IReadOnlyList<ContainerInfo> recovered)
    {
        _agent = agent;
        _logger = agent.Logger;
        _pod = pod;
        Uid = pod["metadata"]!["uid"]!.GetValue<string>();
        Namespace = pod["metadata"]!["namespace"]!.GetValue<string>();
        Name = pod["metadata"]!["name"]!.GetValue<string>();
        foreach (var c in pod["spec"]?["initContainers"]?.AsArray().OfType<JsonObject>() ?? [])
        {
            _init.Add(new ContainerRecord(c["name"]!.GetValue<string>(), c, init: true));
        }
        foreach (var c in pod["spec"]?["containers"]?.AsArray().OfType<JsonObject>() ?? [])
        {
            _app.Add(new ContainerRecord(c["name"]!.GetValue<string>(), c, init: false));
        }
        _recovered = recovered.GroupBy(c => c.Config.Labels.GetValueOrDefault(NodeAgent.ContainerLabel, string.Empty), StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.OrderBy(c => Attempt(c)).ToList(), StringComparer.Ordinal);
        _startTime = pod["status"]?["startTime"]?.GetValue<string>() is { } st && Times.Parse(st) is { } parsed ? parsed : DateTimeOffset.UtcNow;
    }

    public string Uid { get; }

    public string Namespace { get; }

    public string Name { get; }

    public Task? Running { get; set; }

    private JsonObject Pod
    {
        get
        {
            lock (_lock)
            {
                return _pod;
            }
        }
    }

    private string RestartPolicy => Pod["spec"]?["restartPolicy"]?.GetValue<string>() ?? "Always";

    private bool HostNetwork => Pod["spec"]?["hostNetwork"]?.GetValue<bool>() == true;

    private static int Attempt(ContainerInfo c) => int.Parse(c.Config.Labels.GetValueOrDefault(NodeAgent.AttemptLabel, "0"), CultureInfo.InvariantCulture);

    /// <summary>The pod's address once its sandbox is set up, or null.</summary>
    public string? PodIp => _sandboxReady ? _podIp : null;

    /// <summary>The attempt number of a container's current (or last) run, or null if the pod has no such container.</summary>
    public int? RestartCount(string container) => _init.Concat(_app).FirstOrDefault(r => r.Name == container)?.RestartCount;

    /// <summary>The latest version of the pod from the API; a deletion timestamp starts termination.</summary>
    public void Update(JsonObject pod)
    {
        lock (_lock)
        {
            _pod = pod;
        }
        if (pod["metadata"]?["deletionTimestamp"] is not null)
        {
            _terminate.TrySetResult();
        }
    }

    /// <summary>The pod object is gone (force-deleted): stop everything at once.</summary>
    public void Removed()
    {
        _forceRemoved = true;
        _terminate.TrySetResult();
    }

    private void SignalStatus() => _statusSignal.Release();

    /// <summary>The pod as last seen (spec and status).</summary>
    public JsonObject Current => Pod;

    /// <summary>Tells the node's proxy when a pod with host ports gains or loses its address.</summary>
    private void HostPortsChanged()
    {
        if (Tugboat.Network.Proxy.ServiceTable.HasHostPorts(Pod))
        {
            _agent.HostPortsChanged();
        }
    }

    private void Event(string type, string reason, string message) => _agent.Events.Record(Pod, "v1", "Pod", type, reason, message);

    private string FieldPath(ContainerRecord r) => $"spec.{(r.Init ? "initContainers" : "containers")}{{{r.Name}}}";

    public async Task RunAsync(CancellationToken ct)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, _containersCts.Token);
        using var statusCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var status = StatusLoopAsync(statusCts.Token);
        try
        {
            var phase = Pod["status"]?["phase"]?.GetValue<string>();
            if (phase is "Succeeded" or "Failed" && !_recovered.Values.SelectMany(c => c).Any(c => c.Status == ContainerStatus.Running))
            {
                // Finished before this agent (re)started: nothing runs again; wait for deletion.
                _phaseOverride = phase;
                AdoptFinishedState();
            }
            else if (await SetUpSandboxAsync(linked.Token).ConfigureAwait(false) && StartDeadline(linked.Token) && await RunInitContainersAsync(linked.Token).ConfigureAwait(false))
            {
                _ = RefreshVolumesAsync(linked.Token);
                var supervisors = _app.Select(r => SuperviseAsync(r, linked.Token)).ToList();
                var probes = Task.WhenAll(supervisors);
                await Task.WhenAny(probes, _terminate.Task).ConfigureAwait(false);
                // Supervisors also end when the agent stops; only containers that finished for good free the sandbox.
                if (probes.IsCompletedSuccessfully && !_terminate.Task.IsCompleted && !ct.IsCancellationRequested)
                {
                    // Every container finished for good (restartPolicy Never/OnFailure): the pod is done; free its address.
                    await ReleaseSandboxAsync(ct).ConfigureAwait(false);
                    SignalStatus();
                }
            }
            await _terminate.Task.WaitAsync(ct).ConfigureAwait(false);
            await TerminateAsync(ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The agent stops; the pod's processes keep running and are adopted when it comes back.
        }
        finally
        {
            await statusCts.CancelAsync().ConfigureAwait(false);
            await status.ConfigureAwait(false);
        }
    }

    private void AdoptFinishedState()
    {
        var statuses = (Pod["status"]?["containerStatuses"]?.AsArray() ?? []).Concat(Pod["status"]?["initContainerStatuses"]?.AsArray() ?? []).OfType<JsonObject>()
            .ToDictionary(s => s["name"]!.GetValue<string>(), StringComparer.Ordinal);
        foreach (var r in _init.Concat(_app))
        {
            if (statuses.TryGetValue(r.Name, out var s))
            {
                r.State = s["state"]?.AsObject().DeepClone().AsObject() ?? r.State;
                r.LastState = s["lastState"]?.AsObject().DeepClone().AsObject();
                r.RestartCount = s["restartCount"]?.GetValue<int>() ?? 0;
                r.Id = s["containerID"]?.GetValue<string>()?.Split("://").Last();
                r.Done = true;
            }
        }
        _podIp = Pod["status"]?["podIP"]?.GetValue<string>();
    }

    /// <summary>Network namespace, volumes, hosts and resolv.conf; retried until they work or the pod is deleted.</summary>
    private async Task<bool> SetUpSandboxAsync(CancellationToken ct)
    {
        var delay = TimeSpan.FromSeconds(1);
        while (true)
        {
            try
            {
                if (_agent.Runtime is ISandboxRuntime sandboxes)
                {
                    // The runtime makes the pod's network itself (its CNI configuration is the node's).
                    var handler = await PodSandboxSpec.RuntimeHandlerAsync(Pod, _agent.Client, ct).ConfigureAwait(false);
                    _podIp = await sandboxes.RunSandboxAsync(PodSandboxSpec.For(Pod, _agent, handler), ct).ConfigureAwait(false) is { Length: > 0 } ip ? ip : _agent.NodeIp;
                }
                else if (!HostNetwork && _agent.Network is { } network)
                {
                    _podIp = (await network.SetUpAsync(Uid, ct).ConfigureAwait(false)).ToString();
                }
                else
                {
                    _podIp = _agent.NodeIp;
                }
                _volumes ??= new VolumeManager(_agent.PodDir(Uid), _agent.Runtime.Capabilities.MountNamespaces);
                await _volumes.SetUpAsync(Pod, Environment(), ct).ConfigureAwait(false);
                WriteEtcFiles();
                _sandboxReady = true;
                HostPortsChanged();
                SignalStatus();
                return true;
            }
            catch (Exception e) when (e is VolumeException or InvalidOperationException or IOException or ContainerConfigException or ApiError && !ct.IsCancellationRequested)
            {
                var reason = e is VolumeException or ContainerConfigException or ApiError ? "FailedMount" : "FailedCreatePodSandBox";
                Event("Warning", reason, reason == "FailedMount" ? $"MountVolume.SetUp failed: {e.Message}" : $"Failed to create pod sandbox: {e.Message}");
                LogSandboxFailed(Namespace, Name, e.Message);
            }
            if (await Task.WhenAny(_terminate.Task, Task.Delay(delay, ct)).ConfigureAwait(false) == _terminate.Task)
            {
                return false;
            }
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(30).Ticks));
        }
    }

    /// <summary>Keeps configMap, secret, downwardAPI and projected volumes current (the kubelet resyncs them about every minute; this does every 10 s).</summary>
    private async Task RefreshVolumesAsync(CancellationToken ct)
    {
        try
        {
            while (!ct.IsCancellationRequested && !_terminate.Task.IsCompleted)
            {
                await Task.WhenAny(_terminate.Task, Task.Delay(VolumeRefreshInterval, ct)).ConfigureAwait(false);
                if (_volumes is null || _terminate.Task.IsCompleted || ct.IsCancellationRequested)
                {
                    return;
                }
                try
                {
                    await _volumes.RefreshAsync(Pod, Environment(), ct).ConfigureAwait(false);
                }
                catch (Exception e) when (e is VolumeException or ContainerConfigException or ApiError or HttpRequestException or IOException && !ct.IsCancellationRequested)
                {
                    LogSandboxFailed(Namespace, Name, e.Message);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    internal static TimeSpan VolumeRefreshInterval { get; set; } = TimeSpan.FromSeconds(10);

    private PodEnvironment Environment() => new(_agent.Client, Pod, _agent.NodeName, _agent.NodeIp, _podIp, _agent.Allocatable,
        ServiceEnvironment.For(_agent.Services.List(), Namespace, Pod["spec"]?["enableServiceLinks"]?.GetValue<bool>() != false));

    /// <summary>The pod's own /etc/hosts (kubelet-managed) and /etc/resolv.conf.</summary>
    private void WriteEtcFiles()
    {
        var dir = Path.Combine(_agent.PodDir(Uid), "etc");
        Directory.CreateDirectory(dir);
        var hosts = new System.Text.StringBuilder("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n");
        var hostname = PodEnvironment.Hostname(Pod);
        var subdomain = Pod["spec"]?["subdomain"]?.GetValue<string>();
        if (!HostNetwork)
        {
            hosts.Append(_podIp).Append('\t').Append(subdomain is { Length: > 0 } ? $"{hostname}.{subdomain}.{Namespace}.svc.{_agent.ClusterDomain}\t{hostname}" : hostname).Append('\n');
        }
        foreach (var alias in Pod["spec"]?["hostAliases"]?.AsArray().OfType<JsonObject>() ?? [])
        {
            hosts.Append("\n# Entries added by HostAliases.\n").Append(alias["ip"]?.GetValue<string>()).Append('\t')
                .Append(string.Join('\t', alias["hostnames"]?.AsArray().Select(h => h?.GetValue<string>()) ?? [])).Append('\n');
        }
        File.WriteAllText(Path.Combine(dir, "hosts"), hosts.ToString());
        File.WriteAllText(Path.Combine(dir, "resolv.conf"), _agent.ResolvConf(Pod));
    }

    /// <summary>Init containers one after another; false when the pod failed or is being deleted.</summary>
    private async Task<bool> RunInitContainersAsync(CancellationToken ct)
    {
        foreach (var r in _init)
        {
            var recovered = _recovered.GetValueOrDefault(r.Name)?.LastOrDefault();
            if (recovered is { Status: ContainerStatus.Exited, Exit.ExitCode: 0 } || (recovered is null && AlreadySucceeded(r.Name)))
            {
                AdoptExited(r, recovered);
                continue;
            }
            await SuperviseAsync(r, ct).ConfigureAwait(false);
            if (!r.Succeeded)
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>An init container the pod's status already shows as completed (its runtime state was cleaned up since).</summary>
    private bool AlreadySucceeded(string name) =>
        Pod["status"]?["initContainerStatuses"]?.AsArray().OfType<JsonObject>().FirstOrDefault(s => s["name"]?.GetValue<string>() == name) is { } s
        && s["state"]?["terminated"]?["exitCode"]?.GetValue<int>() == 0;

    private void AdoptExited(ContainerRecord r, ContainerInfo? info)
    {
        if (info is not null)
        {
            r.Id = info.Id;
            r.RestartCount = Attempt(info);
            r.LastExit = info.Exit;
            r.State = ContainerRecord.Terminated(info.Exit!, info.StartedAt, $"{_agent.Runtime.Name}://{info.Id}");
        }
        else if (Pod["status"]?["initContainerStatuses"]?.AsArray().OfType<JsonObject>().FirstOrDefault(s => s["name"]?.GetValue<string>() == r.Name) is { } s)
        {
            r.State = s["state"]!.AsObject().DeepClone().AsObject();
            r.RestartCount = s["restartCount"]?.GetValue<int>() ?? 0;
            r.LastExit = new ContainerExit(0, "Completed", DateTimeOffset.UtcNow);
        }
        r.Done = true;
        SignalStatus();
    }

    /// <summary>
    /// Keeps one container going under the pod's restart policy until it is done for good or the pod terminates:
    /// start, probe, wait, back off (10 s doubling to 5 min, the first restart immediate), start again.
    /// </summary>
    private async Task SuperviseAsync(ContainerRecord r, CancellationToken ct)
    {
        var policy = r.Init && RestartPolicy == "Always" ? "OnFailure" : RestartPolicy;
        var backoff = new Backoff();
        var adopted = _recovered.GetValueOrDefault(r.Name)?.LastOrDefault();
        var reported = Pod["status"]?[r.Init ? "initContainerStatuses" : "containerStatuses"]?.AsArray().OfType<JsonObject>().FirstOrDefault(s => s["name"]?.GetValue<string>() == r.Name);
        if (adopted is null && reported?["containerID"] is not null)
        {
            // It ran before but nothing of it is left (the node rebooted or was cleaned up): this start is a restart.
            r.RestartCount = (reported["restartCount"]?.GetValue<int>() ?? 0) + 1;
            r.LastState = reported["state"]?["terminated"] is not null ? reported["state"]!.AsObject().DeepClone().AsObject()
                : reported["lastState"]?["terminated"] is not null ? reported["lastState"]!.AsObject().DeepClone().AsObject() : null;
        }
        if (adopted is not null)
        {
            r.Id = adopted.Id;
            r.RestartCount = Attempt(adopted);
            // Earlier attempts' logs and state stay for `logs --previous`; the state of ones before that is dropped.
            foreach (var old in _recovered[r.Name].Where(c => c.Id != adopted.Id))
            {
                if (old.Status == ContainerStatus.Exited && Attempt(old) == r.RestartCount - 1)
                {
                    r.LastState = ContainerRecord.Terminated(old.Exit!, old.StartedAt, $"{_agent.Runtime.Name}://{old.Id}");
                }
            }
        }
        while (!ct.IsCancellationRequested)
        {
            ContainerExit exit;
            DateTimeOffset startedAt;
            if (adopted is { Status: ContainerStatus.Running })
            {
                startedAt = adopted.StartedAt;
                var previous = Pod["status"]?[r.Init ? "initContainerStatuses" : "containerStatuses"]?.AsArray().OfType<JsonObject>().FirstOrDefault(s => s["name"]?.GetValue<string>() == r.Name);
                // A container that was ready before the agent restarted stays ready while its probes start again.
                r.Ready = previous?["ready"]?.GetValue<bool>() == true;
                r.Started = previous?["started"]?.GetValue<bool>() != false;
                r.State = ContainerRecord.RunningState(startedAt);
                SignalStatus();
                exit = await RunningAsync(r, adopted.Id, startedAt, adopted: true, ct).ConfigureAwait(false);
            }
            else if (adopted is { Status: ContainerStatus.Exited })
            {
                startedAt = adopted.StartedAt;
                exit = adopted.Exit!;
            }
            else
            {
                var started = await StartAsync(r, ct).ConfigureAwait(false);
                if (started is null)
                {
                    return;
                }
                (exit, startedAt) = started.Value;
            }
            adopted = null;
            r.Ready = false;
            r.LastExit = exit;
            r.State = ContainerRecord.Terminated(exit, startedAt, r.Id is null ? null : $"{_agent.Runtime.Name}://{r.Id}");
            SignalStatus();
            var restart = !_terminate.Task.IsCompleted && !_deadlineExceeded.Task.IsCompleted && (policy == "Always" || (policy == "OnFailure" && exit.ExitCode != 0));
            if (!restart)
            {
                r.Done = true;
                SignalStatus();
                return;
            }
            var delay = backoff.Next(DateTimeOffset.UtcNow - startedAt);
            r.LastState = r.State;
            if (delay > TimeSpan.Zero)
            {
                r.State = ContainerRecord.Waiting("CrashLoopBackOff", $"back-off {Go(delay)} restarting failed container={r.Name} pod={Name}_{Namespace}({Uid})");
                Event("Warning", "BackOff", $"Back-off restarting failed container {r.Name} in pod {Name}_{Namespace}({Uid})");
                SignalStatus();
                var waited = Task.Delay(delay, ct);
                if (await Task.WhenAny(_terminate.Task, _deadlineExceeded.Task, waited).ConfigureAwait(false) != waited)
                {
                    r.State = r.LastState;
                    r.Done = true;
                    return;
                }
            }
            // Only the previous attempt is kept (for `logs --previous`), as the kubelet's container GC keeps one.
            await DropOldAttemptsAsync(r, ct).ConfigureAwait(false);
            r.RestartCount++;
        }
    }

    /// <summary>Starts watching spec.activeDeadlineSeconds (it may be set or lowered while the pod runs); always true.</summary>
    private bool StartDeadline(CancellationToken ct)
    {
        _ = DeadlineAsync(ct);
        return true;
    }

    /// <summary>
    /// Upstream's active deadline: a pod active on the node longer than spec.activeDeadlineSeconds (counted from its
    /// start time) has its containers stopped within their grace period and none restarted, and ends Failed with
    /// reason DeadlineExceeded.
    /// </summary>
    private async Task DeadlineAsync(CancellationToken ct)
    {
        try
        {
            while (!_terminate.Task.IsCompleted)
            {
                if (Pod["spec"]?["activeDeadlineSeconds"]?.GetValue<long>() is { } seconds && DateTimeOffset.UtcNow - _startTime >= TimeSpan.FromSeconds(seconds))
                {
                    break;
                }
                await Task.WhenAny(_terminate.Task, Task.Delay(TimeSpan.FromSeconds(1), ct)).ConfigureAwait(false);
                ct.ThrowIfCancellationRequested();
            }
            if (_terminate.Task.IsCompleted || _init.Concat(_app).All(r => r.Done))
            {
                return;
            }
            const string message = "Pod was active on the node longer than the specified deadline";
            _failure = ("DeadlineExceeded", message);
            _phaseOverride = "Failed";
            _deadlineExceeded.TrySetResult();
            Event("Warning", "DeadlineExceeded", message);
            SignalStatus();
            var grace = TerminationGrace();
            await Task.WhenAll(_init.Concat(_app).Where(r => r.Id is not null && _agent.Runtime.Inspect(r.Id!)?.Status == ContainerStatus.Running)
                .Select(r => StopContainerAsync(r, r.Id!, grace, $"Stopping container {r.Name}", ct))).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    private static string Go(TimeSpan t) => t.TotalMinutes >= 1 && t.Seconds == 0 ? $"{(int)t.TotalMinutes}m0s" : t.TotalMinutes >= 1 ? $"{(int)t.TotalMinutes}m{t.Seconds}s" : $"{(int)t.TotalSeconds}s";

    private async Task DropOldAttemptsAsync(ContainerRecord r, CancellationToken ct)
    {
        foreach (var c in _agent.Runtime.List().Where(c => c.Config.Labels.GetValueOrDefault(NodeAgent.PodUidLabel) == Uid
            && c.Config.Labels.GetValueOrDefault(NodeAgent.ContainerLabel) == r.Name && c.Status == ContainerStatus.Exited && Attempt(c) < r.RestartCount))
        {
            await _agent.Runtime.DestroyAsync(c.Id, ct).ConfigureAwait(false);
            TryDelete(c.Config.LogPath);
        }
    }

    private static void TryDelete(string file)
    {
        try
        {
            File.Delete(file);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>Starts one attempt and runs it to its end; null when the pod terminated before it could start.</summary>
    private async Task<(ContainerExit Exit, DateTimeOffset StartedAt)?> StartAsync(ContainerRecord r, CancellationToken ct)
    {
        var configDelay = TimeSpan.FromSeconds(1);
        while (true)
        {
            if (_terminate.Task.IsCompleted)
            {
                return null;
            }
            if (_agent.Runtime is IImageRuntime images && !await (_images ??= new ImagePuller(_agent.Client, () => Pod, Event, SignalStatus, _terminate.Task)).PullAsync(images, r, ct).ConfigureAwait(false))
            {
                return null;
            }
            ContainerConfig config;
            try
            {
                config = await ConfigAsync(r, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is ContainerConfigException or ApiError && !ct.IsCancellationRequested)
            {
                r.State = ContainerRecord.Waiting("CreateContainerConfigError", e.Message);
                Event("Warning", "Failed", "Error: " + e.Message);
                SignalStatus();
                if (await Task.WhenAny(_terminate.Task, Task.Delay(configDelay, ct)).ConfigureAwait(false) == _terminate.Task)
                {
                    return null;
                }
                configDelay = TimeSpan.FromTicks(Math.Min(configDelay.Ticks * 2, TimeSpan.FromSeconds(20).Ticks));
                continue;
            }
            if (!_agent.Runtime.Capabilities.ResourceLimits && (config.MemoryBytes is not null || config.CpuMillis is not null) && r.RestartCount == 0)
            {
                Event("Warning", "LimitsNotEnforced", $"The limits of container {r.Name} are not enforced: this node cannot create cgroups (the agent is not root or the machine has no memory controller)");
            }
            var startedAt = DateTimeOffset.UtcNow;
            try
            {
                r.Id = await _agent.Runtime.StartAsync(config, ct).ConfigureAwait(false);
            }
            catch (ContainerStartException e)
            {
                r.Id = null;
                Event("Warning", "Failed", "Error: " + e.Message);
                return (new ContainerExit(128, e.Reason, DateTimeOffset.UtcNow, e.Message), startedAt);
            }
            Event("Normal", "Created", $"Created container {r.Name}");
            Event("Normal", "Started", $"Started container {r.Name}");
            r.State = ContainerRecord.RunningState(startedAt);
            r.Started = r.Spec["startupProbe"] is null;
            r.Ready = false;
            SignalStatus();
            return (await RunningAsync(r, r.Id, startedAt, adopted: false, ct).ConfigureAwait(false), startedAt);
        }
    }

    /// <summary>While the container runs: postStart hook, probes; returns its exit.</summary>
    private async Task<ContainerExit> RunningAsync(ContainerRecord r, string id, DateTimeOffset startedAt, bool adopted, CancellationToken ct)
    {
        using var probeCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var exitTask = _agent.Runtime.WaitAsync(id, ct);
        if (!adopted && r.Spec["lifecycle"]?["postStart"] is JsonObject postStart)
        {
            var hook = await HookAsync(postStart, r, id, ct).ConfigureAwait(false);
            if (!hook.Success)
            {
                Event("Warning", "FailedPostStartHook", hook.Message);
                return await StopContainerAsync(r, id, TerminationGrace(), "FailedPostStartHook", ct).ConfigureAwait(false);
            }
        }
        if (!r.Init)
        {
            _ = ProbeLoopsAsync(r, id, adopted, probeCts.Token);
        }
        try
        {
            return await exitTask.ConfigureAwait(false);
        }
        finally
        {
            await probeCts.CancelAsync().ConfigureAwait(false);
        }
    }

    private TimeSpan TerminationGrace() => TimeSpan.FromSeconds(Pod["spec"]?["terminationGracePeriodSeconds"]?.GetValue<long>() ?? 30);

    private async Task<ContainerExit> StopContainerAsync(ContainerRecord r, string id, TimeSpan grace, string why, CancellationToken ct)
    {
        Event("Normal", "Killing", why);
        return await _agent.Runtime.StopAsync(id, SigTerm, grace, ct).ConfigureAwait(false);
    }

    private async Task<ProbeResult> HookAsync(JsonObject handler, ContainerRecord r, string id, CancellationToken ct)
    {
        if (handler["sleep"]?["seconds"]?.GetValue<long>() is { } seconds)
        {
            await Task.Delay(TimeSpan.FromSeconds(seconds), ct).ConfigureAwait(false);
            return new ProbeResult(true, string.Empty);
        }
        var probe = (JsonObject)handler.DeepClone();
        probe["timeoutSeconds"] = (int)Math.Min(int.MaxValue, TerminationGrace().TotalSeconds);
        var result = await _agent.Prober.ProbeAsync(probe, r.Spec, _podIp ?? "127.0.0.1", _agent.Runtime, id, ct).ConfigureAwait(false);
        return result;
    }

    /// <summary>Startup, then liveness and readiness probes, with their delays, periods and thresholds.</summary>
    private async Task ProbeLoopsAsync(ContainerRecord r, string id, bool adopted, CancellationToken ct)
    {
        try
        {
            if (r.Spec["startupProbe"] is JsonObject startup && !(adopted && r.Started))
            {
                // A startup probe ends at its first verdict either way.
                var passed = await ProbeAsync(r, id, startup, "Startup", _ => true, ct).ConfigureAwait(false);
                if (!passed)
                {
                    Event("Normal", "Killing", $"Container {r.Name} failed startup probe, will be restarted");
                    await _agent.Runtime.StopAsync(id, SigTerm, ProbeGrace(startup), ct).ConfigureAwait(false);
                    return;
                }
                r.Started = true;
                SignalStatus();
            }
            r.Started = true;
            var readiness = r.Spec["readinessProbe"] is JsonObject ready ? ReadinessAsync(r, id, ready, ct) : Task.CompletedTask;
            if (r.Spec["readinessProbe"] is null)
            {
                r.Ready = true;
                SignalStatus();
            }
            if (r.Spec["livenessProbe"] is JsonObject live)
            {
                // A liveness probe runs until it fails.
                var alive = await ProbeAsync(r, id, live, "Liveness", ok => !ok, ct).ConfigureAwait(false);
                if (!alive)
                {
                    Event("Normal", "Killing", $"Container {r.Name} failed liveness probe, will be restarted");
                    await _agent.Runtime.StopAsync(id, SigTerm, ProbeGrace(live), ct).ConfigureAwait(false);
                    return;
                }
            }
            await readiness.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        catch (KeyNotFoundException)
        {
        }
    }

    private TimeSpan ProbeGrace(JsonObject probe) =>
        probe["terminationGracePeriodSeconds"]?.GetValue<long>() is { } s ? TimeSpan.FromSeconds(s) : TerminationGrace();

    /// <summary>
    /// Runs one probe with its delay, period and thresholds: each time successThreshold successes or failureThreshold
    /// failures in a row are reached, <paramref name="settled"/> hears which; when it answers true the loop ends with
    /// that outcome. Every failure is an Unhealthy event.
    /// </summary>
    private async Task<bool> ProbeAsync(ContainerRecord r, string id, JsonObject probe, string kind, Func<bool, bool> settled, CancellationToken ct)
    {
        var (delay, period, successThreshold, failureThreshold) = Timing(probe);
        await Task.Delay(delay, ct).ConfigureAwait(false);
        var failures = 0;
        var successes = 0;
        while (true)
        {
            var result = await _agent.Prober.ProbeAsync(probe, r.Spec, _podIp ?? "127.0.0.1", _agent.Runtime, id, ct).ConfigureAwait(false);
            if (result.Success)
            {
                failures = 0;
                if (++successes >= successThreshold && settled(true))
                {
                    return true;
                }
            }
            else
            {
                successes = 0;
                Event("Warning", "Unhealthy", $"{kind} probe failed: {result.Message}");
                if (++failures >= failureThreshold && settled(false))
                {
                    return false;
                }
            }
            await Task.Delay(period, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Readiness follows the probe for the container's whole life.</summary>
    private Task ReadinessAsync(ContainerRecord r, string id, JsonObject probe, CancellationToken ct) =>
        ProbeAsync(r, id, probe, "Readiness", ready =>
        {
            if (r.Ready != ready)
            {
                r.Ready = ready;
                SignalStatus();
            }
            return false;
        }, ct);

    private static (TimeSpan Delay, TimeSpan Period, int Success, int Failure) Timing(JsonObject probe) => (
        TimeSpan.FromSeconds(probe["initialDelaySeconds"]?.GetValue<int>() ?? 0),
        TimeSpan.FromSeconds(Math.Max(1, probe["periodSeconds"]?.GetValue<int>() ?? 10)),
        Math.Max(1, probe["successThreshold"]?.GetValue<int>() ?? 1),
        Math.Max(1, probe["failureThreshold"]?.GetValue<int>() ?? 3));

    /// <summary>The runtime configuration of the next attempt of <paramref name="r"/>.</summary>
    private async Task<ContainerConfig> ConfigAsync(ContainerRecord r, CancellationToken ct)
    {
        var spec = r.Spec;
        var env = await Environment().BuildAsync(spec, ct).ConfigureAwait(false);
        var values = env.GroupBy(e => e.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Last().Value, StringComparer.Ordinal);
        var command = spec["command"]?.AsArray().Select(a => PodEnvironment.Expand(a?.GetValue<string>() ?? string.Empty, values)).ToList() ?? [];
        var args = spec["args"]?.AsArray().Select(a => PodEnvironment.Expand(a?.GetValue<string>() ?? string.Empty, values)).ToList() ?? [];
        var runsImages = _agent.Runtime is IImageRuntime;
        if (command.Count == 0 && !runsImages)
        {
            throw new ContainerConfigException(args.Count > 0
                ? $"container {r.Name} has args but no command: the process runtime runs `command` (+ `args`) on the host and cannot use an image's entrypoint; give the program as the command (kubectl run NAME --image=IMAGE --command -- PROGRAM ARGS…)"
                : $"container {r.Name} has no command: the process runtime runs `command` (+ `args`) on the host and cannot use an image's entrypoint");
        }
        // securityContext: the container's settings override the pod's.
        long? Security(string field) => spec["securityContext"]?[field]?.GetValue<long>() ?? Pod["spec"]?["securityContext"]?[field]?.GetValue<long>();
        var runAsUser = Security("runAsUser");
        var runAsGroup = Security("runAsGroup");
        var nonRoot = spec["securityContext"]?["runAsNonRoot"]?.GetValue<bool>() ?? Pod["spec"]?["securityContext"]?["runAsNonRoot"]?.GetValue<bool>();
        // With images an unset user is the image's, checked as upstream's verifyRunAsNonRoot does.
        if (nonRoot == true && runAsUser is null && _agent.Runtime is IImageRuntime imageRuntime
            && await imageRuntime.ImageUserAsync(r.Image, ct).ConfigureAwait(false) is var (imageUid, imageUser))
        {
            if (imageUid is null && imageUser.Length > 0)
            {
                throw new ContainerConfigException($"container has runAsNonRoot and image has non-numeric user ({imageUser}), cannot verify user is non-root (pod: \"{Name}_{Namespace}({Uid})\", container: {r.Name})");
            }
            if ((imageUid ?? 0) == 0)
            {
                throw new ContainerConfigException($"container has runAsNonRoot and image will run as root (pod: \"{Name}_{Namespace}({Uid})\", container: {r.Name})");
            }
        }
        else if (nonRoot == true && (runAsUser ?? 0) == 0)
        {
            throw new ContainerConfigException(runAsUser is null
                ? $"container has runAsNonRoot and image will run as root (pod: \"{Name}_{Namespace}({Uid})\", container: {r.Name})"
                : $"container's runAsUser breaks non-root policy (pod: \"{Name}_{Namespace}({Uid})\", container: {r.Name})");
        }
        var mounts = new List<Mount>();
        foreach (var m in spec["volumeMounts"]?.AsArray().OfType<JsonObject>() ?? [])
        {
            var volume = m["name"]!.GetValue<string>();
            if (_volumes?.Paths.TryGetValue(volume, out var source) != true)
            {
                throw new ContainerConfigException($"volume \"{volume}\" is not prepared");
            }
            var subPath = m["subPath"]?.GetValue<string>() ?? (m["subPathExpr"]?.GetValue<string>() is { } expr ? PodEnvironment.Expand(expr, values) : null);
            if (subPath is { Length: > 0 })
            {
                source = Path.Combine(source!, subPath);
                if (!File.Exists(source) && !Directory.Exists(source))
                {
                    Directory.CreateDirectory(source);
                }
            }
            var readOnly = m["readOnly"]?.GetValue<bool>() == true || IsReadOnlyKind(volume);
            mounts.Add(new Mount(source!, m["mountPath"]!.GetValue<string>(), readOnly));
        }
        if (!HostNetwork && !mounts.Any(m => m.Target == "/etc/hosts"))
        {
            mounts.Add(new Mount(Path.Combine(_agent.PodDir(Uid), "etc", "hosts"), "/etc/hosts", false));
        }
        if (!mounts.Any(m => m.Target == "/etc/resolv.conf") && !HostNetwork)
        {
            mounts.Add(new Mount(Path.Combine(_agent.PodDir(Uid), "etc", "resolv.conf"), "/etc/resolv.conf", false));
        }
        var limits = spec["resources"]?["limits"];
        var requests = spec["resources"]?["requests"];
        return new ContainerConfig
        {
            Labels = new Dictionary<string, string>
            {
                [NodeAgent.PodUidLabel] = Uid,
                [NodeAgent.PodNameLabel] = Name,
                [NodeAgent.PodNamespaceLabel] = Namespace,
                [NodeAgent.ContainerLabel] = r.Name,
                [NodeAgent.AttemptLabel] = r.RestartCount.ToString(CultureInfo.InvariantCulture),
            },
            Image = r.Image,
            Command = [.. command, .. args],
            ImageCommand = command,
            ImageArgs = args,
            RunAsNonRoot = nonRoot == true,
            ReadOnlyRootFilesystem = spec["securityContext"]?["readOnlyRootFilesystem"]?.GetValue<bool>() == true,
            Privileged = spec["securityContext"]?["privileged"]?.GetValue<bool>() == true,
            AllowPrivilegeEscalation = spec["securityContext"]?["allowPrivilegeEscalation"]?.GetValue<bool>() != false,
            CapabilitiesAdd = spec["securityContext"]?["capabilities"]?["add"]?.AsArray().Select(c => c?.GetValue<string>() ?? string.Empty).Where(c => c.Length > 0).ToList() ?? [],
            CapabilitiesDrop = spec["securityContext"]?["capabilities"]?["drop"]?.AsArray().Select(c => c?.GetValue<string>() ?? string.Empty).Where(c => c.Length > 0).ToList() ?? [],
            SupplementalGroups = (Pod["spec"]?["securityContext"]?["supplementalGroups"]?.AsArray().Select(g => g?.GetValue<long>() ?? 0) ?? [])
                .Concat(Pod["spec"]?["securityContext"]?["fsGroup"]?.GetValue<long>() is { } fsGroup ? [fsGroup] : []).ToList(),
            Env = env,
            WorkingDir = spec["workingDir"]?.GetValue<string>(),
            Mounts = mounts,
            NetworkNamespace = !HostNetwork && _agent.Network is not null && _agent.Runtime is not ISandboxRuntime ? Tugboat.Network.Cni.PodNetwork.NamespacePath(Uid) : null,
            Hostname = HostNetwork ? null : PodEnvironment.Hostname(Pod),
            CpuMillis = Millis(limits?["cpu"]),
            CpuRequestMillis = Millis(requests?["cpu"]) ?? Millis(limits?["cpu"]),
            MemoryBytes = Bytes(limits?["memory"]),
            OomScoreAdj = OomScoreAdj(),
            Stdin = spec["stdin"]?.GetValue<bool>() == true,
            RunAsUser = runAsUser,
            RunAsGroup = runAsGroup,
            StdinOnce = spec["stdinOnce"]?.GetValue<bool>() == true,
            Tty = spec["tty"]?.GetValue<bool>() == true,
            LogPath = _agent.LogPath(Namespace, Name, Uid, r.Name, r.RestartCount),
        };
    }

    private bool IsReadOnlyKind(string volume) =>
        Pod["spec"]?["volumes"]?.AsArray().OfType<JsonObject>().FirstOrDefault(v => v["name"]?.GetValue<string>() == volume) is { } v
        && (v.ContainsKey("secret") || v.ContainsKey("configMap") || v.ContainsKey("downwardAPI") || v.ContainsKey("projected"));

    private static long? Millis(JsonNode? q) => q is not null && Quantity.TryParse(q.ToString(), out var v) ? (long)Math.Ceiling(v * 1000) : null;

    private static long? Bytes(JsonNode? q) => q is not null && Quantity.TryParse(q.ToString(), out var v) ? (long)v : null;

    /// <summary>oom_score_adj from the pod's QoS class, as the kubelet computes it.</summary>
    private int OomScoreAdj()
    {
        switch (Pod["status"]?["qosClass"]?.GetValue<string>())
        {
            case "Guaranteed":
                return -997;
            case "BestEffort":
                return 1000;
        }
        var request = Pod["spec"]?["containers"]?.AsArray().OfType<JsonObject>().Sum(c => Bytes(c["resources"]?["requests"]?["memory"]) ?? 0) ?? 0;
        var capacity = (long)_agent.Allocatable("memory");
        var adj = capacity > 0 ? 1000 - (int)(1000 * request / capacity) : 1000;
        return Math.Clamp(adj, 3, 999);
    }

    /// <summary>Graceful deletion: preStop hooks and SIGTERM within the grace period, then SIGKILL; then clean up and remove the pod.</summary>
    private async Task TerminateAsync(CancellationToken ct)
    {
        var graceSeconds = _forceRemoved ? 0 : Pod["metadata"]?["deletionGracePeriodSeconds"]?.GetValue<long>() ?? (long)TerminationGrace().TotalSeconds;
        var deadline = DateTimeOffset.UtcNow + TimeSpan.FromSeconds(graceSeconds);
        var running = _init.Concat(_app).Where(r => r.Id is not null && _agent.Runtime.Inspect(r.Id!)?.Status == ContainerStatus.Running).ToList();
        await Task.WhenAll(running.Select(async r =>
        {
            var id = r.Id!;
            Event("Normal", "Killing", $"Stopping container {r.Name}");
            if (r.Spec["lifecycle"]?["preStop"] is JsonObject preStop && graceSeconds > 0)
            {
                using var hookCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
                hookCts.CancelAfter(deadline - DateTimeOffset.UtcNow);
                try
                {
                    var hook = await HookAsync(preStop, r, id, hookCts.Token).ConfigureAwait(false);
                    if (!hook.Success)
                    {
                        Event("Warning", "FailedPreStopHook", $"PreStopHook failed: {hook.Message}");
                    }
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                }
            }
            var remaining = deadline - DateTimeOffset.UtcNow;
            // Upstream gives at least two seconds after the hook before SIGKILL.
            if (graceSeconds > 0 && remaining < TimeSpan.FromSeconds(2))
            {
                remaining = TimeSpan.FromSeconds(2);
            }
            await _agent.Runtime.StopAsync(id, graceSeconds == 0 ? SigKill : SigTerm, remaining < TimeSpan.Zero ? TimeSpan.Zero : remaining, ct).ConfigureAwait(false);
        })).ConfigureAwait(false);
        await _containersCts.CancelAsync().ConfigureAwait(false);
        await ReleaseSandboxAsync(ct).ConfigureAwait(false);
        if (_volumes is not null)
        {
            await _volumes.TearDownAsync(ct).ConfigureAwait(false);
        }
        foreach (var c in _agent.Runtime.List().Where(c => c.Config.Labels.GetValueOrDefault(NodeAgent.PodUidLabel) == Uid))
        {
            await _agent.Runtime.DestroyAsync(c.Id, ct).ConfigureAwait(false);
        }
        if (!_forceRemoved)
        {
            foreach (var r in _init.Concat(_app))
            {
                r.Ready = false;
                r.Done = true;
            }
            await PublishStatusAsync(ct).ConfigureAwait(false);
            try
            {
                await _agent.Client.DeleteAsync($"/api/v1/namespaces/{Namespace}/pods/{Name}", new JsonObject
                {
                    ["apiVersion"] = "v1",
                    ["kind"] = "DeleteOptions",
                    ["gracePeriodSeconds"] = 0,
                    ["preconditions"] = new JsonObject { ["uid"] = Uid },
                }, ct).ConfigureAwait(false);
            }
            catch (ApiError e) when (e.IsNotFound || e.IsConflict)
            {
            }
        }
        _agent.RemoveLogs(Namespace, Name, Uid);
        TryDeleteDirectory(_agent.PodDir(Uid));
    }

    private static void TryDeleteDirectory(string dir)
    {
        try
        {
            Directory.Delete(dir, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private async Task ReleaseSandboxAsync(CancellationToken ct)
    {
        if (_agent.Runtime is ISandboxRuntime sandboxes)
        {
            try
            {
                await sandboxes.RemoveSandboxAsync(Uid, ct).ConfigureAwait(false);
            }
            catch (Grpc.Core.RpcException e)
            {
                LogSandboxFailed(Namespace, Name, e.Status.Detail);
            }
        }
        else if (_agent.Network is { } network && !HostNetwork)
        {
            try
            {
                await network.TearDownAsync(Uid, ct).ConfigureAwait(false);
            }
            catch (InvalidOperationException e)
            {
                LogSandboxFailed(Namespace, Name, e.Message);
            }
        }
        _sandboxReady = false;
        HostPortsChanged();
    }

    /// <summary>Writes the pod's status whenever something changed (coalesced), until the worker ends.</summary>
    private async Task StatusLoopAsync(CancellationToken ct)
    {
        try
        {
            while (!ct.IsCancellationRequested)
            {
                await _statusSignal.WaitAsync(ct).ConfigureAwait(false);
                await Task.Delay(20, ct).ConfigureAwait(false);
                while (_statusSignal.CurrentCount > 0)
                {
                    await _statusSignal.WaitAsync(ct).ConfigureAwait(false);
                }
                try
                {
                    await PublishStatusAsync(ct).ConfigureAwait(false);
                }
                catch (ApiError e) when (e.IsNotFound)
                {
                    return;
                }
                catch (Exception e) when (e is ApiError or HttpRequestException && !ct.IsCancellationRequested)
                {
                    LogStatusFailed(Namespace, Name, e.Message);
                    await Task.Delay(1000, ct).ConfigureAwait(false);
                    SignalStatus();
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private readonly SemaphoreSlim _publishing = new(1, 1);

    private async Task PublishStatusAsync(CancellationToken ct)
    {
        await _publishing.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var status = PodStatus.Build(Pod, _init, _app, _agent.Runtime.Name, _agent.NodeIp, _podIp, _sandboxReady, _startTime, _phaseOverride, _failure);
            var json = status.ToJsonString(JsonLimits.Writer);
            if (json == _lastStatusJson)
            {
                return;
            }
            var updated = await _agent.Client.MergePatchAsync($"/api/v1/namespaces/{Namespace}/pods/{Name}/status", new JsonObject { ["status"] = status }, ct).ConfigureAwait(false);
            _lastStatusJson = json;
            Update(updated);
        }
        finally
        {
            _publishing.Release();
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "pod {Namespace}/{Name}: sandbox: {Error}")]
    private partial void LogSandboxFailed(string @namespace, string name, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "pod {Namespace}/{Name}: status: {Error}")]
    private partial void LogStatusFailed(string @namespace, string name, string error);
}
