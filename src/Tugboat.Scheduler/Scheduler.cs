using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Tugboat.Api.Meta;
using Tugboat.Client;
using Tugboat.Scheduler.Framework;

namespace Tugboat.Scheduler;

/// <summary>
/// The scheduler, a client of the API server: watches nodes and pods, keeps a cache of what each node holds (pods it
/// bound are counted at once, before the API confirms them), takes pending pods from the queue one at a time, runs the
/// profile's plugins, binds through pods/binding in the background, and on failure writes the PodScheduled=False
/// condition and a FailedScheduling event with upstream's message.
/// </summary>
public sealed partial class Scheduler
{
    private readonly ApiClient _client;
    private readonly ILogger _logger;
    private readonly Profile _profile = Profile.Default();
    private readonly SchedulingQueue _queue = new();
    private readonly object _cacheLock = new();
    private readonly Dictionary<string, NodeInfo> _nodes = new(StringComparer.Ordinal);
    private readonly ImageStates _images = new();
    /// <summary>
    /// Which node each counted pod is on. Changed under <see cref="_cacheLock"/>; read without it by the pod informer's
    /// fast path, so that status writes of running pods never wait for a scheduling cycle that holds the lock.
    /// </summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> _podNodes = new(StringComparer.Ordinal);

    /// <summary>Counted pods with required anti-affinity terms (changed with <see cref="_podNodes"/>; never below the true count).</summary>
    private int _antiAffinityPods;
    private readonly SemaphoreSlim _binds = new(64);
    private readonly Dictionary<string, Dictionary<string, PodInfo>> _nominated = new(StringComparer.Ordinal);

    /// <summary>How many pods <see cref="_nominated"/> holds: without any, no node needs a view with them.</summary>
    private int _nominatedPods;
    private List<NodeInfo>? _snapshot;
    private int _start;

    private readonly InformerFactory _informers;
    private readonly EventRecorder _recorder;

    /// <param name="client">Writes (bindings, conditions, events) go through this client.</param>
    /// <param name="informers">Nodes and pods are read from these shared caches.</param>
    public Scheduler(ApiClient client, InformerFactory informers, ILogger logger)
    {
        _client = client;
        _informers = informers;
        _recorder = new EventRecorder(client, "default-scheduler");
        _logger = logger;
    }

    /// <summary>Pods bound so far, for measurements.</summary>
    public long Scheduled => Interlocked.Read(ref _scheduled);

    private long _scheduled;

    /// <summary>
    /// Upstream's DefaultSelector for the system-default spread: the selectors of the pod's namespace's Services that
    /// select it, merged with its controlling ReplicaSet's or StatefulSet's; null when there is none.
    /// </summary>
    internal static LabelSelector? DefaultSelector(PodInfo pod, IEnumerable<JsonObject> services, Func<string, JsonObject?> replicaSet, Func<string, JsonObject?> statefulSet)
    {
        var matchLabels = new JsonObject();
        var expressions = new JsonArray();
        foreach (var service in services)
        {
            if (service["metadata"]?["namespace"]?.GetValue<string>() == pod.Namespace && service["spec"]?["selector"] is JsonObject { Count: > 0 } selector
                && selector.All(kv => pod.Labels.TryGetValue(kv.Key, out var v) && v == kv.Value?.ToString()))
            {
                foreach (var (key, value) in selector)
                {
                    matchLabels[key] = value?.DeepClone();
                }
            }
        }
        var owner = pod.Pod["metadata"]?["ownerReferences"]?.AsArray().OfType<JsonObject>().FirstOrDefault(r => r["controller"]?.GetValue<bool>() == true);
        var ownerKey = $"{pod.Namespace}/{owner?["name"]}";
        var controller = owner?["kind"]?.GetValue<string>() switch
        {
            "ReplicaSet" => replicaSet(ownerKey),
            "StatefulSet" => statefulSet(ownerKey),
            _ => null,
        };
        if (controller?["spec"]?["selector"] is JsonObject own)
        {
            foreach (var (key, value) in own["matchLabels"] as JsonObject ?? [])
            {
                matchLabels[key] = value?.DeepClone();
            }
            foreach (var expression in own["matchExpressions"]?.AsArray() ?? [])
            {
                expressions.Add(expression?.DeepClone());
            }
        }
        if (matchLabels.Count == 0 && expressions.Count == 0)
        {
            return null;
        }
        try
        {
            return LabelSelector.FromJson(new JsonObject { ["matchLabels"] = matchLabels, ["matchExpressions"] = expressions });
        }
        catch (FormatException)
        {
            return null;
        }
    }

    public async Task RunAsync(CancellationToken ct)
    {
        var nodes = _informers.For("/api/v1/nodes");
        var pods = _informers.For("/api/v1/pods", TimeSpan.FromMinutes(10));
        var budgets = _informers.For("/apis/policy/v1/poddisruptionbudgets");
        if (_profile.Plugin<Plugins.DefaultPreemption.DefaultPreemption>() is { } preemption)
        {
            preemption.DisruptionBudgets = budgets.List;
        }
        var services = _informers.For("/api/v1/services");
        var replicaSets = _informers.For("/apis/apps/v1/replicasets");
        var statefulSets = _informers.For("/apis/apps/v1/statefulsets");
        if (_profile.Plugin<Plugins.InterPodAffinity.InterPodAffinity>() is { } interPod)
        {
            interPod.AnyRequiredAntiAffinity = () => Volatile.Read(ref _antiAffinityPods) > 0;
        }
        if (_profile.Plugin<Plugins.PodTopologySpread.PodTopologySpread>() is { } spread)
        {
            spread.DefaultSelector = pod => DefaultSelector(pod, services.List(), key => replicaSets.Get(key), key => statefulSets.Get(key));
        }
        nodes.Added += OnNode;
        nodes.Updated += (old, node) =>
        {
            if (!JsonNode.DeepEquals(old["spec"], node["spec"]) || !JsonNode.DeepEquals(old["metadata"]?["labels"], node["metadata"]?["labels"])
                || !JsonNode.DeepEquals(old["status"]?["allocatable"], node["status"]?["allocatable"]) || !JsonNode.DeepEquals(old["status"]?["images"], node["status"]?["images"]))
            {
                OnNode(node);
            }
        };
        nodes.Deleted += node =>
        {
            lock (_cacheLock)
            {
                if (_nodes.Remove(node["metadata"]!["name"]!.GetValue<string>(), out var gone))
                {
                    _images.Remove(gone);
                }
                _snapshot = null;
            }
        };
        pods.Added += pod => OnPod(null, pod);
        pods.Updated += OnPod;
        pods.Deleted += OnPodDeleted;
        var informers = new[] { nodes.RunAsync(ct), pods.RunAsync(ct), budgets.RunAsync(ct), services.RunAsync(ct), replicaSets.RunAsync(ct), statefulSets.RunAsync(ct) };
        await Task.WhenAll(nodes.Synced, pods.Synced).WaitAsync(ct).ConfigureAwait(false);
        var flush = FlushAsync(ct);
        var events = _recorder.RunAsync(ct);
        try
        {
            while (!ct.IsCancellationRequested)
            {
                var pod = await _queue.PopAsync(ct).ConfigureAwait(false);
                ScheduleOne(pod, ct);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        await Task.WhenAll([.. informers, flush, events]).ConfigureAwait(false);
    }

    private void OnNode(JsonObject node)
    {
        var name = node["metadata"]!["name"]!.GetValue<string>();
        lock (_cacheLock)
        {
            var info = _nodes.TryGetValue(name, out var existing) ? existing.WithNode(node) : new NodeInfo(node);
            if (existing is not null)
            {
                _images.Remove(existing);
            }
            _images.Add(info);
            _nodes[name] = info;
            _snapshot = null;
        }
        _queue.MoveAllToActive();
    }

    private static bool IsTerminal(JsonObject pod) => pod["status"]?["phase"]?.GetValue<string>() is "Succeeded" or "Failed";

    private void OnPod(JsonObject? old, JsonObject pod)
    {
        // Most events are status writes of pods already counted on their node: nothing to do, and no need to parse them.
        if (pod["spec"]?["nodeName"] is not null && !IsTerminal(pod) && pod["metadata"]?["uid"]?.GetValue<string>() is { } known && _podNodes.ContainsKey(known))
        {
            return;
        }
        var info = new PodInfo(pod);
        if (info.NodeName is { } node)
        {
            _queue.Delete(info.Key);
            var freed = false;
            lock (_cacheLock)
            {
                Nominate(info, null);
                if (IsTerminal(pod))
                {
                    freed = Forget(info.Uid);
                }
                else if (!_podNodes.ContainsKey(info.Uid) && _nodes.TryGetValue(node, out var nodeInfo))
                {
                    nodeInfo.AddPod(info);
                    _podNodes[info.Uid] = node;
                    _antiAffinityPods += info.HasRequiredAntiAffinity ? 1 : 0;
                }
            }
            if (freed)
            {
                _queue.MoveAllToActive();
            }
            return;
        }
        if (IsTerminal(pod) || pod["metadata"]?["deletionTimestamp"] is not null
            || (pod["spec"]?["schedulerName"]?.GetValue<string>() ?? "default-scheduler") != _profile.SchedulerName)
        {
            _queue.Delete(info.Key);
            return;
        }
        if (pod["status"]?["nominatedNodeName"]?.GetValue<string>() is { Length: > 0 } nominatedNode)
        {
            lock (_cacheLock)
            {
                Nominate(info, nominatedNode);
            }
        }
        // Our own status writes (the PodScheduled condition) must not retry a parked pod; spec or label changes do.
        var changed = old is null || !JsonNode.DeepEquals(old["spec"], pod["spec"]) || !JsonNode.DeepEquals(old["metadata"]?["labels"], pod["metadata"]?["labels"]);
        _queue.Add(info, changed);
    }

    private void OnPodDeleted(JsonObject pod)
    {
        var info = new PodInfo(pod);
        _queue.Delete(info.Key);
        bool freed;
        lock (_cacheLock)
        {
            Nominate(info, null);
            freed = Forget(info.Uid);
        }
        if (freed)
        {
            _queue.MoveAllToActive();
        }
    }

    /// <summary>The node with the nominated pods of at least <paramref name="pod"/>'s priority counted on it.</summary>
    private NodeInfo WithNominated(PodInfo pod, NodeInfo node)
    {
        // Called for every node a cycle looks at: the common case must not allocate (a lambda capturing the pod
        // here would cost a closure per call).
        if (_nominatedPods == 0 || !_nominated.TryGetValue(node.Name, out var pods) || pods.Count == 0)
        {
            return node;
        }
        return WithPods(pod, node, pods.Values);
    }

    private static NodeInfo WithPods(PodInfo pod, NodeInfo node, IEnumerable<PodInfo> nominated)
    {
        var extra = nominated.Where(p => p.Uid != pod.Uid && p.Priority >= pod.Priority).ToList();
        if (extra.Count == 0)
        {
            return node;
        }
        var view = node.WithNode(node.Node);
        foreach (var p in extra)
        {
            view.AddPod(p);
        }
        return view;
    }

    private void Nominate(PodInfo pod, string? node)
    {
        if (_nominatedPods > 0)
        {
            foreach (var pods in _nominated.Values)
            {
                _nominatedPods -= pods.Remove(pod.Uid) ? 1 : 0;
            }
        }
        if (node is not null)
        {
            if (!_nominated.TryGetValue(node, out var pods))
            {
                _nominated[node] = pods = new Dictionary<string, PodInfo>(StringComparer.Ordinal);
            }
            _nominatedPods += pods.TryAdd(pod.Uid, pod) ? 1 : 0;
        }
    }

    private bool Forget(string uid)
    {
        if (!_podNodes.TryRemove(uid, out var node))
        {
            return false;
        }
        if (_nodes.TryGetValue(node, out var nodeInfo) && nodeInfo.RemovePod(uid) is { HasRequiredAntiAffinity: true })
        {
            _antiAffinityPods--;
        }
        return true;
    }

    private void ScheduleOne(PodInfo pod, CancellationToken ct)
    {
        ScheduleResult result;
        lock (_cacheLock)
        {
            _snapshot ??= [.. _nodes.Values.OrderBy(n => n.Name, StringComparer.Ordinal)];
            result = _profile.Schedule(pod, _snapshot, ref _start, WithNominated);
            if (result.Nominated is { } target)
            {
                Nominate(pod, target.Name);
            }
            if (result.Node is { } chosen)
            {
                // Assume: count the pod on the node now, so the next pod sees it, before the binding is confirmed.
                chosen.AddPod(pod);
                _podNodes[pod.Uid] = chosen.Name;
                _antiAffinityPods += pod.HasRequiredAntiAffinity ? 1 : 0;
                Nominate(pod, null);
            }
        }
        if (result.Node is null)
        {
            _queue.Failed(pod.Key, park: true);
            _ = ReportUnschedulableAsync(pod, result.FailureMessage!, ct);
            if (result.Nominated is { } nominated)
            {
                _ = PreemptAsync(pod, nominated.Name, result.Victims, ct);
            }
            return;
        }
        _ = BindAsync(pod, result.Node.Name, ct);
    }

    private async Task BindAsync(PodInfo pod, string node, CancellationToken ct)
    {
        await _binds.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            await _client.CreateIgnoringResultAsync($"/api/v1/namespaces/{pod.Namespace}/pods/{pod.Name}/binding", new JsonObject
            {
                ["apiVersion"] = "v1",
                ["kind"] = "Binding",
                ["metadata"] = new JsonObject { ["name"] = pod.Name, ["namespace"] = pod.Namespace, ["uid"] = pod.Uid },
                ["target"] = new JsonObject { ["apiVersion"] = "v1", ["kind"] = "Node", ["name"] = node },
            }, ct).ConfigureAwait(false);
            _queue.Done(pod.Key);
            Interlocked.Increment(ref _scheduled);
            Event(pod, "Normal", "Scheduled", $"Successfully assigned {pod.Namespace}/{pod.Name} to {node}");
        }
        catch (Exception e) when (!ct.IsCancellationRequested && e is ApiError or HttpRequestException)
        {
            lock (_cacheLock)
            {
                Forget(pod.Uid);
            }
            if (e is ApiError { IsNotFound: true } or ApiError { IsConflict: true })
            {
                // Gone, or bound by someone else meanwhile: the informer tells us what became of it.
                _queue.Done(pod.Key);
                return;
            }
            LogBindFailed(pod.Key, node, e.Message);
            _queue.Failed(pod.Key, park: false);
        }
        finally
        {
            _binds.Release();
        }
    }

    /// <summary>Nominates the node for the pod and deletes the victims; the pod is retried when they are gone.</summary>
    private async Task PreemptAsync(PodInfo pod, string node, IReadOnlyList<PodInfo> victims, CancellationToken ct)
    {
        try
        {
            await _client.MergePatchAsync($"/api/v1/namespaces/{pod.Namespace}/pods/{pod.Name}/status", new JsonObject
            {
                ["status"] = new JsonObject { ["nominatedNodeName"] = node },
            }, ct).ConfigureAwait(false);
            foreach (var victim in victims)
            {
                try
                {
                    await _client.DeleteAsync($"/api/v1/namespaces/{victim.Namespace}/pods/{victim.Name}", null, ct).ConfigureAwait(false);
                    _recorder.Record(victim.Pod, "v1", "Pod", "Normal", "Preempted", $"Preempted by pod {pod.Uid} on node {node}");
                }
                catch (ApiError e) when (e.IsNotFound)
                {
                }
            }
        }
        catch (Exception e) when (!ct.IsCancellationRequested && e is ApiError or HttpRequestException)
        {
            LogStatusFailed(pod.Key, e.Message);
        }
    }

    private async Task ReportUnschedulableAsync(PodInfo pod, string message, CancellationToken ct)
    {
        var current = pod.Pod["status"]?["conditions"]?.AsArray().FirstOrDefault(c => c?["type"]?.GetValue<string>() == "PodScheduled");
        if (current?["status"]?.GetValue<string>() == "False" && current["message"]?.GetValue<string>() == message)
        {
            return;
        }
        Event(pod, "Warning", "FailedScheduling", message);
        try
        {
            await _client.StrategicMergePatchAsync($"/api/v1/namespaces/{pod.Namespace}/pods/{pod.Name}/status", new JsonObject
            {
                ["status"] = new JsonObject
                {
                    ["conditions"] = new JsonArray(new JsonObject
                    {
                        ["type"] = "PodScheduled",
                        ["status"] = "False",
                        ["lastProbeTime"] = null,
                        ["lastTransitionTime"] = Times.Format(DateTimeOffset.UtcNow),
                        ["reason"] = "Unschedulable",
                        ["message"] = message,
                    }),
                },
            }, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (!ct.IsCancellationRequested && e is ApiError or HttpRequestException)
        {
            LogStatusFailed(pod.Key, e.Message);
        }
    }

    private void Event(PodInfo pod, string type, string reason, string message) =>
        _recorder.Record(pod.Pod, "v1", "Pod", type, reason, message);

    /// <summary>Parked pods are retried at least this often even without a cluster event (upstream: 5 minutes).</summary>
    private async Task FlushAsync(CancellationToken ct)
    {
        try
        {
            while (!ct.IsCancellationRequested)
            {
                await Task.Delay(TimeSpan.FromSeconds(60), ct).ConfigureAwait(false);
                _queue.MoveAllToActive();
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }


    [LoggerMessage(Level = LogLevel.Warning, Message = "binding {Pod} to {Node} failed: {Error}")]
    private partial void LogBindFailed(string pod, string node, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "updating the PodScheduled condition of {Pod} failed: {Error}")]
    private partial void LogStatusFailed(string pod, string error);
}
