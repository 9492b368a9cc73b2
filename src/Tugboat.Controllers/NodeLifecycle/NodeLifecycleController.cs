using System.Globalization;
using System.Text.Json.Nodes;
using Tugboat.Api.Meta;
using Tugboat.Client;
using Tugboat.Controllers.Runtime;

namespace Tugboat.Controllers.NodeLifecycle;

/// <summary>
/// Upstream's node lifecycle controller with its taint-based eviction: a node whose kubelet has not renewed its Lease
/// nor posted status for <c>gracePeriod</c> gets its conditions set to Unknown ("Kubelet stopped posting node
/// status."), its pods marked not ready, and the <c>node.kubernetes.io/unreachable</c> taints (NoSchedule and
/// NoExecute; <c>not-ready</c> ones for a node that reports Ready=False). Pods on a node with NoExecute taints they do
/// not tolerate are evicted at once; those that tolerate them for <c>tolerationSeconds</c> are evicted when that runs
/// out (every pod gets 300 s for not-ready and unreachable by default), so their controllers recreate them elsewhere.
/// Pods bound to nodes that do not exist for 40 s are deleted (upstream's pod garbage collector and its quarantine).
/// Keys are node names.
/// </summary>
public sealed class NodeLifecycleController : IReconciler
{
    public const string UnreachableTaint = "node.kubernetes.io/unreachable";
    public const string NotReadyTaint = "node.kubernetes.io/not-ready";

    private readonly ApiClient _client;
    private readonly TimeSpan _gracePeriod;
    private readonly Informer _nodes;
    private readonly Informer _leases;
    private readonly Informer _pods;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, DateTimeOffset> _missingSince = new(StringComparer.Ordinal);
    private readonly object _indexLock = new();
    private readonly Dictionary<string, HashSet<string>> _podsByNode = new(StringComparer.Ordinal);

    public NodeLifecycleController(ApiClient client, InformerFactory informers, WorkQueue<string> queue, TimeSpan gracePeriod)
    {
        _client = client;
        _gracePeriod = gracePeriod;
        Queue = queue;
        _nodes = informers.For("/api/v1/nodes");
        _leases = informers.For("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases");
        _pods = informers.For("/api/v1/pods");
        _nodes.Added += n =>
        {
            queue.Add(Name(n));
            NodeEvent(n, "RegisteredNode", $"Registered Node {Name(n)} in Controller");
        };
        _nodes.Updated += (_, n) => queue.Add(Name(n));
        _nodes.Deleted += n =>
        {
            OrphansOf(Name(n));
            NodeEvent(n, "RemovingNode", $"Removing Node {Name(n)} from Controller");
        };
        _leases.Added += l => queue.Add(Name(l));
        _pods.Added += p => Index(null, p);
        _pods.Updated += Index;
        _pods.Deleted += p => Index(p, null);
    }

    public WorkQueue<string> Queue { get; }

    /// <summary>Where the events this controller records go (none when null): upstream's node-controller events.</summary>
    public EventRecorder? Events { get; init; }

    public IReadOnlyList<Informer> Informers => [_nodes, _leases, _pods];

    /// <summary>An event about a node in upstream's words ("Node n event: …").</summary>
    private void NodeEvent(JsonObject node, string reason, string what) =>
        Events?.Record(node, "v1", "Node", "Normal", reason, $"Node {Name(node)} event: {what}");

    /// <summary>How often a node that lost touch, or a node that pods are bound to but that does not exist, is looked at (upstream's node monitor period is 5 s).</summary>
    private TimeSpan MonitorPeriod => TimeSpan.FromTicks(Math.Min(TimeSpan.FromSeconds(5).Ticks, _gracePeriod.Ticks / 4));

    private static string Name(JsonObject obj) => obj["metadata"]!["name"]!.GetValue<string>();

    private static string? NodeOf(JsonObject? pod) => pod?["spec"]?["nodeName"]?.GetValue<string>();

    private void Index(JsonObject? old, JsonObject? pod)
    {
        if (old is not null && pod is not null && NodeOf(old) == NodeOf(pod))
        {
            // Most pod updates (status writes) leave the pod where it was: its index entry stands.
            return;
        }
        lock (_indexLock)
        {
            if (NodeOf(old) is { } before && old is not null)
            {
                _podsByNode.GetValueOrDefault(before)?.Remove(Informer.KeyOf(old));
            }
            if (NodeOf(pod) is { } after && pod is not null)
            {
                if (!_podsByNode.TryGetValue(after, out var set))
                {
                    _podsByNode[after] = set = new HashSet<string>(StringComparer.Ordinal);
                }
                set.Add(Informer.KeyOf(pod));
                if (_nodes.Get(after) is null)
                {
                    // Possibly bound to a node that does not exist (or not yet seen): checked under the node's key.
                    Queue.AddAfter(after, MonitorPeriod);
                }
            }
        }
    }

    private List<JsonObject> PodsOn(string node)
    {
        lock (_indexLock)
        {
            return _podsByNode.TryGetValue(node, out var keys) ? keys.Select(_pods.Get).OfType<JsonObject>().ToList() : [];
        }
    }

    private void OrphansOf(string node) => Queue.Add(node);

    public async Task ReconcileAsync(string name, CancellationToken ct)
    {
        var node = _nodes.Get(name);
        if (node is null)
        {
            // As upstream's pod garbage collector: a node must stay absent for a quarantine (upstream's fixed 40 s; here
            // the node monitor grace period, 40 s by default) before its pods are deleted, so that pods bound just
            // before their node registers are not lost.
            var since = _missingSince.GetOrAdd(name, _ => DateTimeOffset.UtcNow);
            var left = _gracePeriod - (DateTimeOffset.UtcNow - since);
            if (left > TimeSpan.Zero)
            {
                Queue.AddAfter(name, left);
                return;
            }
            await DeleteOrphansAsync(name, ct).ConfigureAwait(false);
            return;
        }
        _missingSince.TryRemove(name, out _);
        var now = DateTimeOffset.UtcNow;
        var conditions = node["status"]?["conditions"]?.AsArray().OfType<JsonObject>().ToList() ?? [];
        var ready = conditions.FirstOrDefault(c => c["type"]?.GetValue<string>() == "Ready");
        var lastHeartbeat = Max(Times.Parse(ready?["lastHeartbeatTime"]), Times.Parse(_leases.Get("kube-node-lease/" + name)?["spec"]?["renewTime"]));
        var silentFor = lastHeartbeat is { } beat ? now - beat : TimeSpan.MaxValue;
        var readyStatus = ready?["status"]?.GetValue<string>() ?? "Unknown";
        if (silentFor > _gracePeriod && readyStatus != "Unknown")
        {
            await MarkUnknownAsync(node, conditions, now, ct).ConfigureAwait(false);
            readyStatus = "Unknown";
        }
        var taints = await SyncTaintsAsync(node, readyStatus, now, ct).ConfigureAwait(false);
        var next = await EvictAsync(name, taints, now, ct).ConfigureAwait(false);
        var wait = MonitorPeriod;
        if (silentFor <= _gracePeriod && readyStatus != "Unknown")
        {
            // A node in touch with nothing to evict is next looked at when its heartbeat would go stale: what changes
            // it in between (its status, its taints) comes as an update of the node, and a renewed Lease is read then.
            // Thousands of healthy nodes are not reconciled every monitor period for nothing. Pods newly bound to a
            // node with NoExecute taints are still caught within a monitor period.
            var untilSilent = _gracePeriod - silentFor + TimeSpan.FromMilliseconds(100);
            wait = untilSilent < wait || !taints.Any(t => t["effect"]?.GetValue<string>() == "NoExecute") ? untilSilent : wait;
        }
        if (next is { } evictAt && evictAt - now < wait)
        {
            wait = evictAt - now;
        }
        Queue.AddAfter(name, wait > TimeSpan.Zero ? wait : TimeSpan.FromMilliseconds(50));
    }

    private async Task MarkUnknownAsync(JsonObject node, List<JsonObject> conditions, DateTimeOffset now, CancellationToken ct)
    {
        var patched = new JsonArray();
        foreach (var type in (string[])["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"])
        {
            var old = conditions.FirstOrDefault(c => c["type"]?.GetValue<string>() == type);
            patched.Add(new JsonObject
            {
                ["type"] = type,
                ["status"] = "Unknown",
                ["lastHeartbeatTime"] = old?["lastHeartbeatTime"]?.DeepClone() ?? Times.Format(now),
                ["lastTransitionTime"] = Times.Format(now),
                ["reason"] = "NodeStatusUnknown",
                ["message"] = "Kubelet stopped posting node status.",
            });
        }
        await _client.StrategicMergePatchAsync($"/api/v1/nodes/{Name(node)}/status", new JsonObject { ["status"] = new JsonObject { ["conditions"] = patched } }, ct).ConfigureAwait(false);
        Events?.Record(node, "v1", "Node", "Normal", "NodeNotReady", $"Node {Name(node)} status is now: NodeNotReady");
        // As upstream: the pods of a node that went silent are no longer ready (endpoints drop them).
        foreach (var pod in PodsOn(Name(node)))
        {
            var podReady = pod["status"]?["conditions"]?.AsArray().FirstOrDefault(c => c?["type"]?.GetValue<string>() == "Ready");
            if (podReady?["status"]?.GetValue<string>() != "True")
            {
                continue;
            }
            try
            {
                await _client.StrategicMergePatchAsync($"/api/v1/namespaces/{pod["metadata"]!["namespace"]}/pods/{pod["metadata"]!["name"]}/status", new JsonObject
                {
                    ["status"] = new JsonObject
                    {
                        ["conditions"] = new JsonArray(new JsonObject { ["type"] = "Ready", ["status"] = "False", ["lastTransitionTime"] = Times.Format(now), ["lastProbeTime"] = null }),
                    },
                }, ct).ConfigureAwait(false);
                Events?.Record(pod, "v1", "Pod", "Warning", "NodeNotReady", "Node is not ready");
            }
            catch (ApiError e) when (e.IsNotFound)
            {
            }
        }
    }

    /// <summary>Puts the unreachable/not-ready taints the Ready condition calls for on the node (and takes stale ones off); returns the node's taints.</summary>
    private async Task<List<JsonObject>> SyncTaintsAsync(JsonObject node, string readyStatus, DateTimeOffset now, CancellationToken ct)
    {
        var current = node["spec"]?["taints"]?.AsArray().OfType<JsonObject>().ToList() ?? [];
        var wanted = readyStatus switch
        {
            "Unknown" => UnreachableTaint,
            "False" => NotReadyTaint,
            _ => null,
        };
        var next = current.Where(t => t["key"]?.GetValue<string>() is not (UnreachableTaint or NotReadyTaint) || t["key"]!.GetValue<string>() == wanted).Select(t => (JsonObject)t.DeepClone()).ToList();
        if (wanted is not null)
        {
            foreach (var effect in (string[])["NoSchedule", "NoExecute"])
            {
                if (!next.Any(t => t["key"]?.GetValue<string>() == wanted && t["effect"]?.GetValue<string>() == effect))
                {
                    var taint = new JsonObject { ["key"] = wanted, ["effect"] = effect };
                    if (effect == "NoExecute")
                    {
                        taint["timeAdded"] = Times.Format(now);
                    }
                    next.Add(taint);
                }
            }
        }
        if (next.Count == current.Count && next.Zip(current).All(p => JsonNode.DeepEquals(p.First, p.Second)))
        {
            return current;
        }
        var taints = new JsonArray([.. next.Select(t => (JsonNode)t.DeepClone())]);
        await _client.MergePatchAsync($"/api/v1/nodes/{Name(node)}", new JsonObject
        {
            ["metadata"] = new JsonObject { ["resourceVersion"] = node["metadata"]!["resourceVersion"]!.DeepClone() },
            ["spec"] = new JsonObject { ["taints"] = taints },
        }, ct).ConfigureAwait(false);
        return next;
    }

    /// <summary>Evicts the pods whose toleration of the node's NoExecute taints has run out; returns when the next one will.</summary>
    private async Task<DateTimeOffset?> EvictAsync(string node, List<JsonObject> taints, DateTimeOffset now, CancellationToken ct)
    {
        var noExecute = taints.Where(t => t["effect"]?.GetValue<string>() == "NoExecute").ToList();
        if (noExecute.Count == 0)
        {
            return null;
        }
        DateTimeOffset? next = null;
        foreach (var pod in PodsOn(node))
        {
            if (pod["metadata"]?["deletionTimestamp"] is not null)
            {
                continue;
            }
            var tolerations = pod["spec"]?["tolerations"]?.AsArray().OfType<JsonObject>().ToList() ?? [];
            DateTimeOffset? evictAt = null;
            foreach (var taint in noExecute)
            {
                var key = taint["key"]?.GetValue<string>() ?? string.Empty;
                var matching = tolerations.Where(t => Tugboat.Api.Scheduling.Tolerations.Tolerates(t, key, taint["value"]?.GetValue<string>(), "NoExecute")).ToList();
                if (matching.Count == 0)
                {
                    evictAt = now;
                    break;
                }
                // The shortest tolerationSeconds wins; a matching toleration without one tolerates forever.
                if (matching.Any(t => t["tolerationSeconds"] is null))
                {
                    continue;
                }
                var seconds = matching.Min(t => t["tolerationSeconds"]!.GetValue<long>());
                var at = (Times.Parse(taint["timeAdded"]) ?? now) + TimeSpan.FromSeconds(Math.Max(0, seconds));
                evictAt = evictAt is { } e && e < at ? e : at;
            }
            if (evictAt is null)
            {
                continue;
            }
            if (evictAt <= now)
            {
                try
                {
                    await _client.DeleteAsync($"/api/v1/namespaces/{pod["metadata"]!["namespace"]}/pods/{pod["metadata"]!["name"]}", null, ct).ConfigureAwait(false);
                    Events?.Record(pod, "v1", "Pod", "Normal", "TaintManagerEviction", $"Marking for deletion Pod {pod["metadata"]!["namespace"]}/{pod["metadata"]!["name"]}");
                }
                catch (ApiError e) when (e.IsNotFound)
                {
                }
            }
            else
            {
                next = next is { } n && n < evictAt ? n : evictAt;
            }
        }
        return next;
    }

    private async Task DeleteOrphansAsync(string node, CancellationToken ct)
    {
        foreach (var pod in PodsOn(node))
        {
            try
            {
                await _client.DeleteAsync($"/api/v1/namespaces/{pod["metadata"]!["namespace"]}/pods/{pod["metadata"]!["name"]}", new JsonObject
                {
                    ["apiVersion"] = "v1",
                    ["kind"] = "DeleteOptions",
                    ["gracePeriodSeconds"] = 0,
                }, ct).ConfigureAwait(false);
            }
            catch (ApiError e) when (e.IsNotFound)
            {
            }
        }
    }


    private static DateTimeOffset? Max(DateTimeOffset? a, DateTimeOffset? b) => a is null ? b : b is null ? a : a > b ? a : b;

}
