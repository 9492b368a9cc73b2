using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Tugboat.Api.Meta;
using Tugboat.Client;

namespace Tugboat.Agent.Runtimes.Hollow;

/// <summary>
/// Simulated nodes, like kubemark's hollow kubelets or kwok: registers <c>PREFIX-0 … PREFIX-(N-1)</c> with capacity,
/// labels, addresses and Ready conditions, renews their Leases in kube-node-lease, and plays the kubelet's part for
/// the pods bound to them without running anything: a new pod becomes Running and Ready; a pod whose restartPolicy is
/// not Always finishes after a simulated run (<see cref="RunSecondsAnnotation"/>, default 1 s) with the exit code of
/// <see cref="ExitCodeAnnotation"/> (default 0); a pod being deleted is removed as a kubelet removes it once its
/// containers stopped. When the process stops, heartbeats stop, as when a machine dies.
/// </summary>
public sealed partial class HollowNodes(ApiClient client, string prefix, int count, ILogger logger)
{
    public const string RunSecondsAnnotation = "hollow.tugboat.dev/run-seconds";
    public const string ExitCodeAnnotation = "hollow.tugboat.dev/exit-code";

    /// <summary>The Lease duration each node announces (upstream kubelet's nodeLeaseDurationSeconds: 40); renewed every quarter of it.</summary>
    public int LeaseDurationSeconds { get; init; } = 40;

    private TimeSpan LeaseRenewInterval => TimeSpan.FromSeconds(LeaseDurationSeconds / 4.0);

    /// <summary>How often each node rewrites its status conditions (upstream's nodeStatusReportFrequency: 5 min).</summary>
    public TimeSpan StatusReportInterval { get; init; } = TimeSpan.FromMinutes(5);

    private readonly HashSet<string> _nodes = Enumerable.Range(0, count).Select(i => $"{prefix}-{i}").ToHashSet(StringComparer.Ordinal);

    public IReadOnlyCollection<string> NodeNames => _nodes;

    public async Task RunAsync(CancellationToken ct)
    {
        await ForEachNodeAsync(RegisterAsync, ct).ConfigureAwait(false);
        LogRegistered(count, prefix);
        using var queue = new WorkQueue<string>();
        var pods = new Informer(client, "/api/v1/pods") { StripManagedFields = true };
        pods.Added += p => Enqueue(queue, p);
        pods.Updated += (_, p) => Enqueue(queue, p);
        // A node the control plane marked NotReady/Unknown while this agent lives (a missed heartbeat) reports Ready
        // again at once, as a kubelet does when its status differs from what it would post.
        var nodeInformer = new Informer(client, "/api/v1/nodes") { StripManagedFields = true };
        nodeInformer.Updated += (_, n) => ReassertReady(n, ct);
        var watchingNodes = nodeInformer.RunAsync(ct);
        var informer = pods.RunAsync(ct);
        await Task.WhenAny(pods.Synced, informer).ConfigureAwait(false);
        var workers = Enumerable.Range(0, 4).Select(_ => WorkAsync(pods, queue, ct)).ToArray();
        var heartbeats = HeartbeatAsync(ct);
        try
        {
            await Task.WhenAll([informer, watchingNodes, heartbeats, .. workers]).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    private void ReassertReady(JsonObject node, CancellationToken ct)
    {
        var name = node["metadata"]?["name"]?.GetValue<string>();
        var ready = node["status"]?["conditions"]?.AsArray().FirstOrDefault(c => c?["type"]?.GetValue<string>() == "Ready");
        if (name is null || !_nodes.Contains(name) || ready?["status"]?.GetValue<string>() == "True")
        {
            return;
        }
        _ = Task.Run(async () =>
        {
            try
            {
                await client.MergePatchIgnoringResultAsync($"/api/v1/nodes/{name}/status", new JsonObject { ["status"] = Status(name, DateTimeOffset.UtcNow) }, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is ApiError or HttpRequestException && !ct.IsCancellationRequested)
            {
                LogNodeFailed(name, e.Message);
            }
        }, ct);
    }

    private void Enqueue(WorkQueue<string> queue, JsonObject pod)
    {
        if (pod["spec"]?["nodeName"]?.GetValue<string>() is { } node && _nodes.Contains(node))
        {
            queue.Add(Informer.KeyOf(pod));
        }
    }

    private async Task WorkAsync(Informer pods, WorkQueue<string> queue, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            var key = await queue.GetAsync(ct).ConfigureAwait(false);
            try
            {
                if (pods.Get(key) is { } pod && await SyncPodAsync(pod, ct).ConfigureAwait(false) is { } after)
                {
                    queue.AddAfter(key, after);
                }
                queue.Forget(key);
            }
            catch (ApiError e) when (e.IsNotFound || e.IsConflict)
            {
                queue.Forget(key);
            }
            catch (Exception e) when (e is ApiError or HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
            {
                LogPodFailed(key, e.Message);
                queue.AddRateLimited(key);
            }
            finally
            {
                queue.Done(key);
            }
        }
    }

    /// <summary>Moves a pod one step along its simulated life; returns when to look again, or null.</summary>
    private async Task<TimeSpan?> SyncPodAsync(JsonObject pod, CancellationToken ct)
    {
        var meta = pod["metadata"]!.AsObject();
        var ns = meta["namespace"]!.GetValue<string>();
        var name = meta["name"]!.GetValue<string>();
        var path = $"/api/v1/namespaces/{ns}/pods/{name}";
        var phase = pod["status"]?["phase"]?.GetValue<string>();
        if (meta["deletionTimestamp"] is not null)
        {
            // The containers "stopped" at once: finish the graceful deletion as a kubelet does.
            await client.DeleteIgnoringResultAsync(path, new JsonObject
            {
                ["apiVersion"] = "v1",
                ["kind"] = "DeleteOptions",
                ["gracePeriodSeconds"] = 0,
                ["preconditions"] = new JsonObject { ["uid"] = meta["uid"]!.GetValue<string>() },
            }, ct).ConfigureAwait(false);
            return null;
        }
        if (phase is "Succeeded" or "Failed")
        {
            return null;
        }
        var now = DateTimeOffset.UtcNow;
        var restartPolicy = pod["spec"]?["restartPolicy"]?.GetValue<string>() ?? "Always";
        if (phase != "Running")
        {
            await client.MergePatchIgnoringResultAsync(path + "/status", new JsonObject { ["status"] = RunningStatus(pod, now) }, ct).ConfigureAwait(false);
            return restartPolicy == "Always" ? null : RunTime(meta);
        }
        var ready = pod["status"]?["conditions"]?.AsArray().FirstOrDefault(c => c?["type"]?.GetValue<string>() == "Ready");
        if (ready?["status"]?.GetValue<string>() != "True")
        {
            // Marked not ready while its node looked dead; the "containers" never stopped, so it is ready again.
            var status = RunningStatus(pod, now);
            status["startTime"] = pod["status"]?["startTime"]?.DeepClone() ?? status["startTime"]!.DeepClone();
            await client.MergePatchIgnoringResultAsync(path + "/status", new JsonObject { ["status"] = status }, ct).ConfigureAwait(false);
        }
        if (restartPolicy == "Always")
        {
            return null;
        }
        var started = DateTimeOffset.Parse(pod["status"]?["startTime"]?.GetValue<string>() ?? now.ToString("O"), CultureInfo.InvariantCulture);
        var remaining = started + RunTime(meta) - now;
        if (remaining > TimeSpan.Zero)
        {
            return remaining;
        }
        var exitCode = int.TryParse(meta["annotations"]?[ExitCodeAnnotation]?.GetValue<string>(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var code) ? code : 0;
        await client.MergePatchIgnoringResultAsync(path + "/status", new JsonObject { ["status"] = FinishedStatus(pod, started, now, exitCode) }, ct).ConfigureAwait(false);
        return null;
    }

    private static TimeSpan RunTime(JsonObject meta) =>
        double.TryParse(meta["annotations"]?[RunSecondsAnnotation]?.GetValue<string>(), NumberStyles.Float, CultureInfo.InvariantCulture, out var s) && s >= 0
            ? TimeSpan.FromSeconds(s)
            : TimeSpan.FromSeconds(1);

    private JsonObject RunningStatus(JsonObject pod, DateTimeOffset now)
    {
        var node = pod["spec"]!["nodeName"]!.GetValue<string>();
        var time = Times.Format(now);
        var ip = PodIp(node, pod["metadata"]!["uid"]!.GetValue<string>());
        return new JsonObject
        {
            ["phase"] = "Running",
            ["conditions"] = Conditions(pod, time, ready: true, reason: null),
            ["hostIP"] = NodeIp(node),
            ["hostIPs"] = new JsonArray(new JsonObject { ["ip"] = NodeIp(node) }),
            ["podIP"] = ip,
            ["podIPs"] = new JsonArray(new JsonObject { ["ip"] = ip }),
            ["startTime"] = time,
            ["containerStatuses"] = ContainerStatuses(pod, _ => new JsonObject { ["running"] = new JsonObject { ["startedAt"] = time } }, ready: true),
        };
    }

    private static JsonObject FinishedStatus(JsonObject pod, DateTimeOffset started, DateTimeOffset now, int exitCode) => new()
    {
        ["phase"] = exitCode == 0 ? "Succeeded" : "Failed",
        ["conditions"] = Conditions(pod, Times.Format(now), ready: false, reason: "PodCompleted"),
        ["containerStatuses"] = ContainerStatuses(pod, c => new JsonObject
        {
            ["terminated"] = new JsonObject
            {
                ["exitCode"] = exitCode,
                ["reason"] = exitCode == 0 ? "Completed" : "Error",
                ["startedAt"] = Times.Format(started),
                ["finishedAt"] = Times.Format(now),
                ["containerID"] = ContainerId(pod, c),
            },
        }, ready: false),
    };

    private static JsonArray Conditions(JsonObject pod, string time, bool ready, string? reason)
    {
        var scheduled = pod["status"]?["conditions"]?.AsArray().FirstOrDefault(c => c?["type"]?.GetValue<string>() == "PodScheduled")?.DeepClone()
            ?? new JsonObject { ["type"] = "PodScheduled", ["status"] = "True", ["lastProbeTime"] = null, ["lastTransitionTime"] = time };
        JsonObject Condition(string type, bool status) => new()
        {
            ["type"] = type,
            ["status"] = status ? "True" : "False",
            ["lastProbeTime"] = null,
            ["lastTransitionTime"] = time,
            ["reason"] = status ? null : reason,
        };
        var list = new JsonArray(Condition("Initialized", true), Condition("Ready", ready), Condition("ContainersReady", ready), scheduled);
        foreach (var c in list)
        {
            if (c!["reason"] is null)
            {
                c.AsObject().Remove("reason");
            }
        }
        return list;
    }

    private static JsonArray ContainerStatuses(JsonObject pod, Func<string, JsonObject> state, bool ready)
    {
        var result = new JsonArray();
        foreach (var c in pod["spec"]?["containers"]?.AsArray() ?? [])
        {
            var name = c!["name"]!.GetValue<string>();
            var image = c["image"]?.GetValue<string>() ?? string.Empty;
            result.Add(new JsonObject
            {
                ["name"] = name,
                ["state"] = state(name),
                ["ready"] = ready,
                ["restartCount"] = 0,
                ["image"] = image,
                ["imageID"] = "hollow://" + image,
                ["containerID"] = ContainerId(pod, name),
                ["started"] = ready,
            });
        }
        return result;
    }

    private static string ContainerId(JsonObject pod, string container) => $"hollow://{pod["metadata"]!["uid"]!.GetValue<string>()}/{container}";

    /// <summary>Node i has the pod range 10.42.(i mod 256).0/24 and the address 10.41.x.y; nothing is routed anywhere, these are records.</summary>
    private int Index(string node) => int.Parse(node[(prefix.Length + 1)..], CultureInfo.InvariantCulture);

    private string NodeIp(string node) => $"10.41.{Index(node) / 250 % 250}.{Index(node) % 250 + 1}";

    private string PodIp(string node, string uid) => $"10.42.{Index(node) % 256}.{(Math.Abs(uid.GetHashCode(StringComparison.Ordinal)) % 253) + 2}";


    private async Task RegisterAsync(string node, CancellationToken ct)
    {
        var now = DateTimeOffset.UtcNow;
        var body = new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Node",
            ["metadata"] = new JsonObject
            {
                ["name"] = node,
                ["labels"] = new JsonObject
                {
                    ["kubernetes.io/hostname"] = node,
                    ["kubernetes.io/os"] = "linux",
                    ["kubernetes.io/arch"] = "amd64",
                    ["beta.kubernetes.io/os"] = "linux",
                    ["beta.kubernetes.io/arch"] = "amd64",
                    ["node.kubernetes.io/instance-type"] = "hollow",
                    ["type"] = "hollow",
                },
            },
            ["spec"] = new JsonObject { ["podCIDR"] = $"10.42.{Index(node) % 256}.0/24", ["podCIDRs"] = new JsonArray($"10.42.{Index(node) % 256}.0/24") },
            ["status"] = Status(node, now),
        };
        try
        {
            await client.CreateAsync("/api/v1/nodes", body, ct).ConfigureAwait(false);
        }
        catch (ApiError e) when (e.IsAlreadyExists)
        {
            // A restarted agent takes its nodes back: fresh status, and its Lease is renewed below.
        }
        await client.MergePatchIgnoringResultAsync($"/api/v1/nodes/{node}/status", new JsonObject { ["status"] = Status(node, now) }, ct).ConfigureAwait(false);
        await RenewLeaseAsync(node, ct).ConfigureAwait(false);
    }

    private JsonObject Status(string node, DateTimeOffset now)
    {
        var time = Times.Format(now);
        JsonObject Condition(string type, string status, string reason, string message) => new()
        {
            ["type"] = type,
            ["status"] = status,
            ["lastHeartbeatTime"] = time,
            ["lastTransitionTime"] = time,
            ["reason"] = reason,
            ["message"] = message,
        };
        var resources = new JsonObject { ["cpu"] = "4", ["memory"] = "16Gi", ["pods"] = "110", ["ephemeral-storage"] = "100Gi" };
        return new JsonObject
        {
            ["capacity"] = resources.DeepClone(),
            ["allocatable"] = resources,
            ["conditions"] = new JsonArray(
                Condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                Condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                Condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                Condition("Ready", "True", "KubeletReady", "kubelet is posting ready status (hollow node)")),
            ["addresses"] = new JsonArray(
                new JsonObject { ["type"] = "InternalIP", ["address"] = NodeIp(node) },
                new JsonObject { ["type"] = "Hostname", ["address"] = node }),
            ["daemonEndpoints"] = new JsonObject { ["kubeletEndpoint"] = new JsonObject { ["Port"] = 10250 } },
            ["nodeInfo"] = new JsonObject
            {
                ["machineID"] = node,
                ["systemUUID"] = node,
                ["bootID"] = node,
                ["kernelVersion"] = KernelVersion,
                ["osImage"] = "hollow",
                ["containerRuntimeVersion"] = "hollow://1.0",
                ["kubeletVersion"] = "v1.30.0-tugboat-hollow",
                ["kubeProxyVersion"] = "v1.30.0-tugboat-hollow",
                ["operatingSystem"] = "linux",
                ["architecture"] = "amd64",
            },
        };
    }

    /// <summary>The machine's kernel release as <c>uname -r</c> prints it, which is what kubelets report.</summary>
    private static readonly string KernelVersion = File.Exists("/proc/sys/kernel/osrelease")
        ? File.ReadAllText("/proc/sys/kernel/osrelease").Trim()
        : Environment.OSVersion.Version.ToString();

    private Task RenewLeaseAsync(string node, CancellationToken ct) => NodeLease.RenewAsync(client, node, LeaseDurationSeconds, ct);

    /// <summary>Renews every node's Lease each interval, spread over it, and rewrites node status less often.</summary>
    private async Task HeartbeatAsync(CancellationToken ct)
    {
        var lastStatus = DateTimeOffset.UtcNow;
        while (!ct.IsCancellationRequested)
        {
            var round = DateTimeOffset.UtcNow;
            var reportStatus = round - lastStatus >= StatusReportInterval;
            await ForEachNodeAsync(async (node, token) =>
            {
                await RenewLeaseAsync(node, token).ConfigureAwait(false);
                if (reportStatus)
                {
                    await client.MergePatchIgnoringResultAsync($"/api/v1/nodes/{node}/status", new JsonObject { ["status"] = Status(node, DateTimeOffset.UtcNow) }, token).ConfigureAwait(false);
                }
            }, ct).ConfigureAwait(false);
            if (reportStatus)
            {
                lastStatus = round;
            }
            var wait = LeaseRenewInterval - (DateTimeOffset.UtcNow - round);
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, ct).ConfigureAwait(false);
            }
        }
    }

    private async Task ForEachNodeAsync(Func<string, CancellationToken, Task> action, CancellationToken ct) =>
        await Parallel.ForEachAsync(_nodes, new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = ct }, async (node, token) =>
        {
            try
            {
                await action(node, token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is ApiError or HttpRequestException && !token.IsCancellationRequested)
            {
                LogNodeFailed(node, e.Message);
            }
        }).ConfigureAwait(false);

    [LoggerMessage(Level = LogLevel.Information, Message = "registered {Count} hollow nodes {Prefix}-0…")]
    private partial void LogRegistered(int count, string prefix);

    [LoggerMessage(Level = LogLevel.Warning, Message = "hollow node {Node}: {Error}")]
    private partial void LogNodeFailed(string node, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "hollow pod {Pod}: {Error}")]
    private partial void LogPodFailed(string pod, string error);
}
