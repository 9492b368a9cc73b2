using System.Globalization;
using System.Text.Json.Nodes;
using Tugboat.Client;
using Tugboat.Controllers.Runtime;
using Tugboat.Api.Scheduling;
using static Tugboat.Controllers.Runtime.Owners;

namespace Tugboat.Controllers.DaemonSet;

/// <summary>
/// One pod per eligible node, as upstream's DaemonSet controller: a node is eligible when it matches the template's
/// nodeSelector and required node affinity and its NoSchedule/NoExecute taints are tolerated (daemon pods also get
/// upstream's extra tolerations: not-ready, unreachable, pressure conditions, unschedulable). Pods are created with a
/// node affinity for their node (the scheduler binds them) and the <c>controller-revision-hash</c> label; surplus,
/// misplaced and failed pods are deleted; RollingUpdate replaces outdated pods at most <c>maxUnavailable</c> at a time,
/// OnDelete only when they are deleted. Each template is recorded as a ControllerRevision (rollout history and undo).
/// Status counts are written from what is observed.
/// </summary>
public sealed class DaemonSetController : IReconciler
{
    public const string RevisionLabel = "controller-revision-hash";
    private readonly ApiClient _client;
    private readonly Informer _sets;
    private readonly Informer _pods;
    private readonly Informer _nodes;
    private readonly Informer _revisions;
    private readonly ControllerHistory _history;
    private readonly Expectations _expectations = new();

    public DaemonSetController(ApiClient client, InformerFactory informers, WorkQueue<string> queue)
    {
        _client = client;
        Queue = queue;
        _sets = informers.For("/apis/apps/v1/daemonsets", TimeSpan.FromMinutes(10));
        _pods = informers.For("/api/v1/pods", TimeSpan.FromMinutes(10));
        _nodes = informers.For("/api/v1/nodes");
        _revisions = informers.For(ControllerHistory.Path, TimeSpan.FromMinutes(10));
        _history = new ControllerHistory(client, _revisions);
        _sets.Added += s => queue.Add(Informer.KeyOf(s));
        _sets.Updated += (_, s) => queue.Add(Informer.KeyOf(s));
        _sets.Deleted += s => _expectations.Forget(Informer.KeyOf(s));
        _pods.Added += p => _expectations.PodChanged(p, true, "DaemonSet", queue);
        _pods.Updated += (_, p) => _expectations.PodChanged(p, null, "DaemonSet", queue);
        _pods.Deleted += p => _expectations.PodChanged(p, false, "DaemonSet", queue);
        _nodes.Added += _ => EnqueueAll();
        _nodes.Updated += (old, n) =>
        {
            if (!JsonNode.DeepEquals(old["spec"], n["spec"]) || !JsonNode.DeepEquals(old["metadata"]?["labels"], n["metadata"]?["labels"]))
            {
                EnqueueAll();
            }
        };
        _nodes.Deleted += _ => EnqueueAll();
    }

    /// <summary>Where the events this controller records go (none when null).</summary>
    public EventRecorder? Events { get; init; }

    public WorkQueue<string> Queue { get; }

    public IReadOnlyList<Informer> Informers => [_sets, _pods, _nodes, _revisions];

    private void EnqueueAll()
    {
        foreach (var set in _sets.List())
        {
            Queue.Add(Informer.KeyOf(set));
        }
    }

    /// <summary>The tolerations upstream gives every daemon pod, so it runs where workloads would be kept out.</summary>
    private static readonly (string Key, string Effect)[] DaemonTolerations =
    [
        ("node.kubernetes.io/not-ready", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/disk-pressure", "NoSchedule"),
        ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ("node.kubernetes.io/pid-pressure", "NoSchedule"),
        ("node.kubernetes.io/unschedulable", "NoSchedule"),
    ];

    /// <summary>
    /// Whether a daemon pod of <paramref name="template"/> belongs on <paramref name="node"/>: for a new pod
    /// (<paramref name="newPod"/>) NoSchedule and NoExecute taints count; a running pod stays unless a NoExecute taint is
    /// untolerated, as upstream.
    /// </summary>
    public static bool ShouldRun(JsonObject? template, JsonObject node, bool newPod = true)
    {
        var spec = template?["spec"] as JsonObject ?? [];
        var labels = (node["metadata"]?["labels"] as JsonObject)?.Where(kv => kv.Value is JsonValue).ToDictionary(kv => kv.Key, kv => kv.Value!.ToString(), StringComparer.Ordinal)
            ?? new Dictionary<string, string>(StringComparer.Ordinal);
        var nodeName = node["metadata"]?["name"]?.GetValue<string>() ?? string.Empty;
        if (spec["nodeSelector"] is JsonObject selector && selector.Any(kv => !labels.TryGetValue(kv.Key, out var v) || v != kv.Value?.ToString()))
        {
            return false;
        }
        if (spec["affinity"]?["nodeAffinity"]?["requiredDuringSchedulingIgnoredDuringExecution"]?["nodeSelectorTerms"] is JsonArray { Count: > 0 } terms
            && !terms.OfType<JsonObject>().Any(t => NodeSelectors.Matches(t, labels, nodeName)))
        {
            return false;
        }
        var tolerations = Tolerations(spec);
        foreach (var taint in node["spec"]?["taints"]?.AsArray().OfType<JsonObject>() ?? [])
        {
            var effect = taint["effect"]?.GetValue<string>();
            if (effect is not ("NoSchedule" or "NoExecute") || (!newPod && effect == "NoSchedule"))
            {
                continue;
            }
            var key = taint["key"]?.GetValue<string>() ?? string.Empty;
            if (!tolerations.Any(t => Tugboat.Api.Scheduling.Tolerations.Tolerates(t, key, taint["value"]?.GetValue<string>(), effect)))
            {
                return false;
            }
        }
        return true;
    }

    private static List<JsonObject> Tolerations(JsonObject spec)
    {
        var list = spec["tolerations"]?.AsArray().OfType<JsonObject>().Select(t => (JsonObject)t.DeepClone()).ToList() ?? [];
        foreach (var (key, effect) in DaemonTolerations)
        {
            if (!list.Any(t => t["key"]?.GetValue<string>() == key && t["effect"]?.GetValue<string>() == effect))
            {
                list.Add(new JsonObject { ["key"] = key, ["operator"] = "Exists", ["effect"] = effect });
            }
        }
        return list;
    }

    private static string? NodeOf(JsonObject pod)
    {
        if (pod["spec"]?["nodeName"]?.GetValue<string>() is { Length: > 0 } bound)
        {
            return bound;
        }
        var terms = pod["spec"]?["affinity"]?["nodeAffinity"]?["requiredDuringSchedulingIgnoredDuringExecution"]?["nodeSelectorTerms"] as JsonArray;
        return terms?.OfType<JsonObject>().SelectMany(t => t["matchFields"]?.AsArray().OfType<JsonObject>() ?? [])
            .FirstOrDefault(f => f["key"]?.GetValue<string>() == "metadata.name")?["values"]?[0]?.GetValue<string>();
    }

    public async Task ReconcileAsync(string key, CancellationToken ct)
    {
        var set = _sets.Get(key);
        if (set is null || Deleting(set))
        {
            return;
        }
        var ns = Namespace(set);
        var uid = set["metadata"]!["uid"]!.GetValue<string>();
        var template = set["spec"]?["template"] as JsonObject;
        var hash = Deployment.PodTemplateHash.Of(template);
        // The template's ControllerRevision (what kubectl rollout history and undo read), named as upstream names it.
        var revisionLabels = LabelsOf(template?["metadata"]?["labels"] as JsonObject);
        revisionLabels[RevisionLabel] = hash;
        await _history.EnsureNewestAsync(set, "apps/v1", "DaemonSet", $"{Name(set)}-{hash}", template ?? [], revisionLabels, ct).ConfigureAwait(false);
        // Before the pods are listed: see Expectations.Satisfied.
        var satisfied = _expectations.Satisfied(key);
        var pods = _pods.List().Where(p => Namespace(p) == ns && ControllerUid(p) == uid && !Deleting(p)).ToList();
        var byNode = pods.GroupBy(p => NodeOf(p) ?? string.Empty).ToDictionary(g => g.Key, g => g.ToList(), StringComparer.Ordinal);
        var nodes = _nodes.List();
        // Nodes where a pod may run: new pods need every taint tolerated, existing ones only NoExecute taints.
        var eligible = nodes.Where(n => ShouldRun(template, n, newPod: !byNode.ContainsKey(Name(n)))).Select(Name).ToHashSet(StringComparer.Ordinal);

        // One instant for every availability decision of this pass and for the look-again time, so that they agree.
        var now = DateTimeOffset.UtcNow;
        if (satisfied)
        {
            var create = new List<string>();
            var delete = new List<JsonObject>();
            var surging = MaxSurge(set, eligible.Count) > 0;
            foreach (var node in eligible)
            {
                var here = byNode.GetValueOrDefault(node) ?? [];
                var failed = here.Where(p => p["status"]?["phase"]?.GetValue<string>() == "Failed").ToList();
                delete.AddRange(failed);
                var alive = here.Except(failed).OrderBy(p => p["metadata"]?["creationTimestamp"]?.GetValue<string>(), StringComparer.Ordinal).ToList();
                if (alive.Count == 0)
                {
                    create.Add(node);
                }
                // One pod per node; while a surge is rolling, the oldest of each template may run side by side.
                var keep = surging
                    ? alive.Where(p => HashOf(p) == hash).Take(1).Concat(alive.Where(p => HashOf(p) != hash).Take(1)).ToList()
                    : alive.OrderByDescending(p => HashOf(p) == hash).Take(1).ToList();
                delete.AddRange(alive.Except(keep));
            }
            delete.AddRange(byNode.Where(kv => !eligible.Contains(kv.Key)).SelectMany(kv => kv.Value));
            var (victims, surge) = RollingUpdate(set, byNode, eligible, hash, delete, now);
            delete.AddRange(victims);
            create.AddRange(surge);
            if (create.Count > 0 || delete.Count > 0)
            {
                _expectations.Expect(key, create.Count, delete.Count);
            }
            foreach (var node in create)
            {
                await CreateAsync(key, set, template, hash, node, ct).ConfigureAwait(false);
            }
            foreach (var pod in delete.DistinctBy(p => p["metadata"]!["uid"]!.GetValue<string>()))
            {
                try
                {
                    await _client.DeleteAsync($"/api/v1/namespaces/{ns}/pods/{Name(pod)}", null, ct).ConfigureAwait(false);
                    Events?.Record(set, "apps/v1", "DaemonSet", "Normal", "SuccessfulDelete", $"Deleted pod: {Name(pod)}");
                }
                catch (ApiError e) when (e.IsNotFound)
                {
                    _expectations.Failed(key, add: false);
                }
            }
        }
        await WriteStatusAsync(set, byNode, eligible, hash, now, ct).ConfigureAwait(false);
        var live = pods.Select(p => p["metadata"]?["labels"]?[RevisionLabel]?.GetValue<string>()).OfType<string>().Append(hash).Select(h => $"{Name(set)}-{h}").ToHashSet(StringComparer.Ordinal);
        await _history.TruncateAsync(set, live, ct).ConfigureAwait(false);
    }

    private static string? HashOf(JsonObject pod) => pod["metadata"]?["labels"]?[RevisionLabel]?.GetValue<string>();

    private static int MaxSurge(JsonObject set, int nodes)
    {
        var strategy = set["spec"]?["updateStrategy"];
        return (strategy?["type"]?.GetValue<string>() ?? "RollingUpdate") != "RollingUpdate"
            ? 0
            : (int)Deployment.DeploymentController.Resolve(strategy?["rollingUpdate"]?["maxSurge"], nodes, roundUp: true, "0");
    }

    /// <summary>Whether a daemon pod is available: Ready for the set's minReadySeconds.</summary>
    private static bool Available(JsonObject set, JsonObject pod, DateTimeOffset now) => IsAvailable(pod, Long(set["spec"]?["minReadySeconds"]), now);

    /// <summary>
    /// Upstream's rolling update. Without surge, outdated pods are deleted while at most maxUnavailable (default 1)
    /// nodes lack an available pod. With maxSurge, a node's updated pod is created beside the outdated one — at once
    /// where the outdated pod is unavailable anyway, otherwise on at most maxSurge nodes at a time — and the outdated
    /// pod is deleted once its replacement is available. Returns the pods to delete and the nodes to create on.
    /// </summary>
    private static (List<JsonObject> Delete, List<string> Create) RollingUpdate(JsonObject set, Dictionary<string, List<JsonObject>> byNode, HashSet<string> eligible, string hash, List<JsonObject> deleting, DateTimeOffset now)
    {
        var strategy = set["spec"]?["updateStrategy"];
        if ((strategy?["type"]?.GetValue<string>() ?? "RollingUpdate") != "RollingUpdate")
        {
            return ([], []);
        }
        var maxSurge = MaxSurge(set, eligible.Count);
        if (maxSurge > 0)
        {
            var delete = new List<JsonObject>();
            var allowed = new List<string>();
            var candidates = new List<string>();
            var surging = 0;
            foreach (var node in eligible.Order(StringComparer.Ordinal))
            {
                var here = (byNode.GetValueOrDefault(node) ?? []).Where(p => !deleting.Contains(p)).ToList();
                var updated = here.FirstOrDefault(p => HashOf(p) == hash);
                var outdated = here.FirstOrDefault(p => HashOf(p) != hash);
                if (outdated is null)
                {
                    continue;
                }
                if (updated is null)
                {
                    (Available(set, outdated, now) ? candidates : allowed).Add(node);
                }
                else if (!Available(set, updated, now))
                {
                    surging++;
                }
                else
                {
                    delete.Add(outdated);
                }
            }
            return (delete, [.. allowed, .. candidates.Take(Math.Max(0, maxSurge - surging))]);
        }
        // Upstream rounds a percentage up for daemon sets.
        var maxUnavailable = (int)Deployment.DeploymentController.Resolve(strategy?["rollingUpdate"]?["maxUnavailable"], eligible.Count, roundUp: true, "1");
        var current = eligible.Select(n => byNode.GetValueOrDefault(n)?.FirstOrDefault(p => !deleting.Contains(p))).ToList();
        var unavailable = current.Count(p => p is null || !Available(set, p, now));
        var outdatedPods = current.OfType<JsonObject>().Where(p => HashOf(p) != hash).OrderBy(p => Available(set, p, now) ? 1 : 0).ToList();
        // Outdated pods that are unavailable anyway go first and do not count against the budget twice.
        var budget = Math.Max(0, maxUnavailable - unavailable);
        return ([.. outdatedPods.Where(p => !Available(set, p, now)).Concat(outdatedPods.Where(p => Available(set, p, now)).Take(budget))], []);
    }

    private async Task CreateAsync(string key, JsonObject set, JsonObject? template, string hash, string node, CancellationToken ct)
    {
        var ns = Namespace(set);
        var spec = (JsonObject?)template?["spec"]?.DeepClone() ?? [];
        // Upstream pins a daemon pod to its node with a required node affinity on the node name, replacing any other required terms.
        var affinity = spec["affinity"] as JsonObject ?? [];
        var nodeAffinity = affinity["nodeAffinity"] as JsonObject ?? [];
        nodeAffinity["requiredDuringSchedulingIgnoredDuringExecution"] = new JsonObject
        {
            ["nodeSelectorTerms"] = new JsonArray(new JsonObject
            {
                ["matchFields"] = new JsonArray(new JsonObject { ["key"] = "metadata.name", ["operator"] = "In", ["values"] = new JsonArray(node) }),
            }),
        };
        affinity["nodeAffinity"] = nodeAffinity;
        spec["affinity"] = affinity;
        spec["tolerations"] = new JsonArray([.. Tolerations(spec).Select(t => (JsonNode)t)]);
        var labels = (JsonObject?)template?["metadata"]?["labels"]?.DeepClone() ?? [];
        labels[RevisionLabel] = hash;
        var pod = new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Pod",
            ["metadata"] = new JsonObject
            {
                ["generateName"] = Name(set) + "-",
                ["namespace"] = ns,
                ["labels"] = labels,
                ["annotations"] = template?["metadata"]?["annotations"]?.DeepClone(),
                ["ownerReferences"] = new JsonArray(Reference(set, "apps/v1", "DaemonSet")),
            },
            ["spec"] = spec,
        };
        try
        {
            var created = await _client.CreateAsync($"/api/v1/namespaces/{ns}/pods", pod, ct).ConfigureAwait(false);
            Events?.Record(set, "apps/v1", "DaemonSet", "Normal", "SuccessfulCreate", $"Created pod: {Name(created)}");
        }
        catch (ApiError)
        {
            _expectations.Failed(key, add: true);
            throw;
        }
    }

    private async Task WriteStatusAsync(JsonObject set, Dictionary<string, List<JsonObject>> byNode, HashSet<string> eligible, string hash, DateTimeOffset now, CancellationToken ct)
    {
        var scheduled = eligible.Count(n => byNode.ContainsKey(n));
        var misscheduled = byNode.Keys.Count(n => n.Length > 0 && !eligible.Contains(n));
        // As upstream: each node counts once, by its oldest daemon pod.
        var oldest = eligible.Select(n => byNode.GetValueOrDefault(n)?.OrderBy(p => p["metadata"]?["creationTimestamp"]?.GetValue<string>(), StringComparer.Ordinal).FirstOrDefault()).OfType<JsonObject>().ToList();
        var ready = oldest.Count(IsReady);
        var available = oldest.Count(p => Available(set, p, now));
        // Every pod counts here, a surge's new ones too (upstream looks only at each node's oldest and can leave a surge waiting).
        if (UntilNextAvailable(eligible.SelectMany(n => byNode.GetValueOrDefault(n) ?? []), Long(set["spec"]?["minReadySeconds"]), now) is { } wait)
        {
            Queue.AddAfter(Informer.KeyOf(set), wait);
        }
        var status = new JsonObject
        {
            ["currentNumberScheduled"] = scheduled,
            ["numberMisscheduled"] = misscheduled,
            ["desiredNumberScheduled"] = eligible.Count,
            ["numberReady"] = ready,
            ["observedGeneration"] = set["metadata"]?["generation"]?.DeepClone(),
            ["updatedNumberScheduled"] = oldest.Count(p => HashOf(p) == hash),
            ["numberAvailable"] = available,
            ["numberUnavailable"] = Math.Max(0, eligible.Count - available),
        };
        if (status["numberAvailable"]!.GetValue<int>() == 0)
        {
            status.Remove("numberAvailable");
        }
        if (status["numberUnavailable"]!.GetValue<int>() == 0)
        {
            status.Remove("numberUnavailable");
        }
        if (status["updatedNumberScheduled"]!.GetValue<int>() == 0)
        {
            status.Remove("updatedNumberScheduled");
        }
        if (JsonNode.DeepEquals(status, set["status"]))
        {
            return;
        }
        await _client.UpdateAsync($"/apis/apps/v1/namespaces/{Namespace(set)}/daemonsets/{Name(set)}/status", StatusObject(set, status), ct).ConfigureAwait(false);
    }

    private static JsonObject StatusObject(JsonObject set, JsonObject status)
    {
        var copy = (JsonObject)set.DeepClone();
        copy["status"] = status;
        return copy;
    }
}
