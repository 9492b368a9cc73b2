using System.Globalization;
using System.Text.Json.Nodes;
using Tugboat.Client;
using Tugboat.Controllers.Runtime;
using static Tugboat.Controllers.Runtime.Owners;

namespace Tugboat.Controllers.StatefulSet;

/// <summary>
/// StatefulSets as upstream's controller runs them: pods with stable names <c>&lt;set&gt;-&lt;ordinal&gt;</c>,
/// hostname and subdomain, and one PersistentVolumeClaim per volumeClaimTemplate and ordinal
/// (<c>&lt;template&gt;-&lt;set&gt;-&lt;ordinal&gt;</c>, created as objects; kept when pods go unless the
/// persistentVolumeClaimRetentionPolicy says Delete). OrderedReady creates pods in order, each once all before it are
/// Running and Ready for minReadySeconds, and removes them from the highest ordinal down, one at a
/// time; Parallel does both at once. Templates are recorded as ControllerRevisions; RollingUpdate replaces pods from
/// the highest ordinal down to <c>partition</c>, one at a time once the others are ready; OnDelete waits for pods to
/// be deleted. Failed pods are recreated. Status counts, currentRevision and updateRevision follow what is observed.
/// </summary>
public sealed class StatefulSetController : IReconciler
{
    public const string RevisionLabel = "controller-revision-hash";
    public const string PodNameLabel = "statefulset.kubernetes.io/pod-name";
    public const string PodIndexLabel = "apps.kubernetes.io/pod-index";
    private readonly ApiClient _client;
    private readonly Informer _sets;
    private readonly Informer _pods;
    private readonly Informer _revisions;
    private readonly Informer _claims;
    private readonly ControllerHistory _history;
    private readonly Expectations _expectations = new();

    public StatefulSetController(ApiClient client, InformerFactory informers, WorkQueue<string> queue)
    {
        _client = client;
        Queue = queue;
        _sets = informers.For("/apis/apps/v1/statefulsets", TimeSpan.FromMinutes(10));
        _pods = informers.For("/api/v1/pods", TimeSpan.FromMinutes(10));
        _revisions = informers.For(ControllerHistory.Path, TimeSpan.FromMinutes(10));
        _claims = informers.For("/api/v1/persistentvolumeclaims", TimeSpan.FromMinutes(10));
        _history = new ControllerHistory(client, _revisions);
        _sets.Added += s => queue.Add(Informer.KeyOf(s));
        _sets.Updated += (_, s) => queue.Add(Informer.KeyOf(s));
        _sets.Deleted += s => _expectations.Forget(Informer.KeyOf(s));
        _pods.Added += p => _expectations.PodChanged(p, true, "StatefulSet", queue);
        _pods.Updated += (_, p) => _expectations.PodChanged(p, null, "StatefulSet", queue);
        _pods.Deleted += p => _expectations.PodChanged(p, false, "StatefulSet", queue);
    }

    /// <summary>Where the events this controller records go (none when null).</summary>
    public EventRecorder? Events { get; init; }

    public WorkQueue<string> Queue { get; }

    public IReadOnlyList<Informer> Informers => [_sets, _pods, _revisions, _claims];

    private static int? Ordinal(string setName, JsonObject pod)
    {
        var name = Name(pod);
        return name.StartsWith(setName + "-", StringComparison.Ordinal)
            && int.TryParse(name.AsSpan(setName.Length + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var i) ? i : null;
    }

    private static string? RevisionOf(JsonObject pod) => pod["metadata"]?["labels"]?[RevisionLabel]?.GetValue<string>();

    private static bool Running(JsonObject pod) => pod["status"]?["phase"]?.GetValue<string>() == "Running" && IsReady(pod) && !Deleting(pod);

    /// <summary>Running, Ready, and Ready for the set's minReadySeconds (upstream's isRunningAndAvailable).</summary>
    private static bool Available(JsonObject set, JsonObject pod, DateTimeOffset now) =>
        Running(pod) && IsAvailable(pod, Long(set["spec"]?["minReadySeconds"]), now);

    public async Task ReconcileAsync(string key, CancellationToken ct)
    {
        var set = _sets.Get(key);
        if (set is null || Deleting(set))
        {
            return;
        }
        var ns = Namespace(set);
        var name = Name(set);
        var uid = set["metadata"]!["uid"]!.GetValue<string>();
        var replicas = (int)Long(set["spec"]?["replicas"], 1);
        var template = set["spec"]?["template"] as JsonObject ?? [];
        var updateRevision = name + "-" + Deployment.PodTemplateHash.Of(template);
        await _history.EnsureNewestAsync(set, "apps/v1", "StatefulSet", updateRevision, template, LabelsOf(template["metadata"]?["labels"] as JsonObject), ct).ConfigureAwait(false);

        // Before the pods are listed: see Expectations.Satisfied.
        var satisfied = _expectations.Satisfied(key);
        var pods = _pods.List().Where(p => Namespace(p) == ns && ControllerUid(p) == uid).ToList();
        var byOrdinal = new SortedDictionary<int, JsonObject>();
        foreach (var pod in pods)
        {
            if (Ordinal(name, pod) is { } ordinal)
            {
                byOrdinal[ordinal] = pod;
            }
        }
        var currentRevision = set["status"]?["currentRevision"]?.GetValue<string>() ?? updateRevision;
        var parallel = set["spec"]?["podManagementPolicy"]?.GetValue<string>() == "Parallel";
        // One instant for every availability decision of this pass and for the look-again time, so that they agree.
        var now = DateTimeOffset.UtcNow;

        await ReconcileClaimOwnersAsync(set, byOrdinal, replicas, ct).ConfigureAwait(false);
        if (satisfied)
        {
            await StepAsync(key, set, byOrdinal, replicas, template, updateRevision, currentRevision, parallel, now, ct).ConfigureAwait(false);
        }
        await WriteStatusAsync(set, byOrdinal.Values.ToList(), replicas, currentRevision, updateRevision, now, ct).ConfigureAwait(false);
        var live = new HashSet<string>(byOrdinal.Values.Select(RevisionOf).OfType<string>(), StringComparer.Ordinal) { currentRevision, updateRevision };
        await _history.TruncateAsync(set, live, ct).ConfigureAwait(false);
    }

    /// <summary>One step towards the wanted state: creations, deletions and updates, in upstream's order and pace.</summary>
    private async Task StepAsync(string key, JsonObject set, SortedDictionary<int, JsonObject> byOrdinal, int replicas, JsonObject template, string updateRevision, string currentRevision, bool parallel, DateTimeOffset now, CancellationToken ct)
    {
        var ns = Namespace(set);
        // Failed or succeeded pods are replaced.
        foreach (var (ordinal, pod) in byOrdinal.Where(p => !Deleting(p.Value) && p.Value["status"]?["phase"]?.GetValue<string>() is "Failed" or "Succeeded").ToList())
        {
            await DeleteAsync(key, ns, pod, ct).ConfigureAwait(false);
            byOrdinal.Remove(ordinal);
            if (!parallel)
            {
                return;
            }
        }
        for (var ordinal = 0; ordinal < replicas; ordinal++)
        {
            if (!byOrdinal.TryGetValue(ordinal, out var pod))
            {
                // A missing pod is created at the update revision if it is at or above the partition, else at the current one.
                var revision = ordinal >= Partition(set) ? updateRevision : currentRevision;
                var revisionTemplate = revision == updateRevision ? template : await _history.TemplateOfAsync(ns, revision, ct).ConfigureAwait(false) ?? template;
                await CreateAsync(key, set, ordinal, revisionTemplate, revision, ct).ConfigureAwait(false);
                if (!parallel)
                {
                    return;
                }
                continue;
            }
            if (!parallel && !Available(set, pod, now))
            {
                // OrderedReady: nothing further until this pod is Running and Ready (for minReadySeconds).
                return;
            }
        }
        // Scale down from the highest ordinal, one at a time unless Parallel, and only when the rest are healthy.
        foreach (var (ordinal, pod) in byOrdinal.Where(p => p.Key >= replicas).OrderByDescending(p => p.Key).ToList())
        {
            if (Deleting(pod))
            {
                if (!parallel)
                {
                    return;
                }
                continue;
            }
            if (!parallel && byOrdinal.Where(p => p.Key < replicas).Any(p => !Running(p.Value)))
            {
                return;
            }
            await DeleteAsync(key, ns, pod, ct).ConfigureAwait(false);
            if (!parallel)
            {
                return;
            }
        }
        if ((set["spec"]?["updateStrategy"]?["type"]?.GetValue<string>() ?? "RollingUpdate") != "RollingUpdate")
        {
            return;
        }
        // RollingUpdate: the highest outdated ordinal at or above the partition goes, once every pod is available.
        var inRange = byOrdinal.Where(p => p.Key < replicas).ToList();
        if (inRange.Any(p => !Available(set, p.Value, now)))
        {
            return;
        }
        var outdated = inRange.Where(p => p.Key >= Partition(set) && RevisionOf(p.Value) != updateRevision).OrderByDescending(p => p.Key).FirstOrDefault();
        if (outdated.Value is { } victim)
        {
            await DeleteAsync(key, ns, victim, ct).ConfigureAwait(false);
        }
    }

    private static int Partition(JsonObject set) => (int)Long(set["spec"]?["updateStrategy"]?["rollingUpdate"]?["partition"], 0);

    private async Task CreateAsync(string key, JsonObject set, int ordinal, JsonObject template, string revision, CancellationToken ct)
    {
        var ns = Namespace(set);
        var podName = $"{Name(set)}-{ordinal}";
        var spec = (JsonObject?)template["spec"]?.DeepClone() ?? [];
        spec["hostname"] = podName;
        if (set["spec"]?["serviceName"]?.GetValue<string>() is { Length: > 0 } service)
        {
            spec["subdomain"] = service;
        }
        var volumes = spec["volumes"] as JsonArray ?? [];
        foreach (var claim in set["spec"]?["volumeClaimTemplates"]?.AsArray().OfType<JsonObject>() ?? [])
        {
            var claimName = $"{claim["metadata"]?["name"]}-{podName}";
            await EnsureClaimAsync(set, claim, claimName, ct).ConfigureAwait(false);
            var volumeName = claim["metadata"]?["name"]?.GetValue<string>();
            foreach (var existing in volumes.OfType<JsonObject>().Where(v => v["name"]?.GetValue<string>() == volumeName).ToList())
            {
                volumes.Remove(existing);
            }
            volumes.Add(new JsonObject { ["name"] = volumeName, ["persistentVolumeClaim"] = new JsonObject { ["claimName"] = claimName } });
        }
        if (volumes.Count > 0)
        {
            spec["volumes"] = volumes;
        }
        var labels = (JsonObject?)template["metadata"]?["labels"]?.DeepClone() ?? [];
        labels[RevisionLabel] = revision;
        labels[PodNameLabel] = podName;
        labels[PodIndexLabel] = ordinal.ToString(CultureInfo.InvariantCulture);
        _expectations.Expect(key, 1, 0);
        try
        {
            await _client.CreateAsync($"/api/v1/namespaces/{ns}/pods", new JsonObject
            {
                ["apiVersion"] = "v1",
                ["kind"] = "Pod",
                ["metadata"] = new JsonObject
                {
                    ["name"] = podName,
                    ["namespace"] = ns,
                    ["labels"] = labels,
                    ["annotations"] = template["metadata"]?["annotations"]?.DeepClone(),
                    ["ownerReferences"] = new JsonArray(Reference(set, "apps/v1", "StatefulSet")),
                },
                ["spec"] = spec,
            }, ct).ConfigureAwait(false);
            Events?.Record(set, "apps/v1", "StatefulSet", "Normal", "SuccessfulCreate", $"create Pod {podName} in StatefulSet {Name(set)} successful");
        }
        catch (ApiError)
        {
            _expectations.Failed(key, add: true);
            throw;
        }
    }

    /// <summary>The stored claim, or null when there is none (for claims the cache may not have seen yet).</summary>
    private async Task<JsonObject?> GetClaimAsync(string ns, string name, CancellationToken ct)
    {
        try
        {
            return await _client.GetAsync($"/api/v1/namespaces/{ns}/persistentvolumeclaims/{name}", ct).ConfigureAwait(false);
        }
        catch (ApiError e) when (e.IsNotFound)
        {
            return null;
        }
    }

    /// <summary>
    /// persistentVolumeClaimRetentionPolicy, as upstream keeps it: with <c>whenDeleted: Delete</c> each pod's claims are
    /// owned by the set (the garbage collector deletes them with it); with <c>whenScaled: Delete</c> the claims of a pod
    /// above the replica count are owned by that pod alone before it is removed, so they go with it. References the
    /// policy no longer asks for are taken off (Retain keeps claims).
    /// </summary>
    private async Task ReconcileClaimOwnersAsync(JsonObject set, SortedDictionary<int, JsonObject> byOrdinal, int replicas, CancellationToken ct)
    {
        var templates = set["spec"]?["volumeClaimTemplates"]?.AsArray().OfType<JsonObject>().ToList() ?? [];
        if (templates.Count == 0)
        {
            return;
        }
        var policy = set["spec"]?["persistentVolumeClaimRetentionPolicy"];
        var whenDeleted = policy?["whenDeleted"]?.GetValue<string>() == "Delete";
        var whenScaled = policy?["whenScaled"]?.GetValue<string>() == "Delete";
        var ns = Namespace(set);
        var setUid = set["metadata"]!["uid"]!.GetValue<string>();
        foreach (var (ordinal, pod) in byOrdinal)
        {
            var podUid = pod["metadata"]?["uid"]?.GetValue<string>();
            foreach (var template in templates)
            {
                var claimName = $"{template["metadata"]?["name"]}-{Name(set)}-{ordinal}";
                var claim = _claims.Get($"{ns}/{claimName}");
                if (claim is null && whenScaled && ordinal >= replicas)
                {
                    // A claim made moments ago may not be in the cache yet; its pod is about to go, and once it has
                    // gone nothing would hand the claim over to it, so it is looked up.
                    claim = await GetClaimAsync(ns, claimName, ct).ConfigureAwait(false);
                }
                if (claim is null)
                {
                    continue;
                }
                var refs = claim["metadata"]?["ownerReferences"]?.AsArray().OfType<JsonObject>().Select(r => (JsonObject)r.DeepClone()).ToList() ?? [];
                var hadSet = refs.RemoveAll(r => r["uid"]?.GetValue<string>() == setUid) > 0;
                // References to this ordinal's pod are recomputed; those to an earlier pod of the same name go.
                var podRefs = refs.Where(r => r["kind"]?.GetValue<string>() == "Pod" && r["name"]?.GetValue<string>() == Name(pod)).ToList();
                refs.RemoveAll(podRefs.Contains);
                var hadPod = podRefs.Any(r => r["uid"]?.GetValue<string>() == podUid);
                var stalePods = podRefs.Count - (hadPod ? 1 : 0);
                var wantPod = whenScaled && ordinal >= replicas && podUid is not null;
                // A claim owned by its scaled-away pod is no longer the set's: the garbage collector would otherwise
                // only drop the dangling pod reference and keep the claim for the living set.
                var wantSet = whenDeleted && !wantPod;
                if (wantSet)
                {
                    refs.Add(Reference(set, "apps/v1", "StatefulSet", controller: false));
                }
                if (wantPod)
                {
                    refs.Add(Reference(pod, "v1", "Pod", controller: false));
                }
                if (hadSet == wantSet && hadPod == wantPod && stalePods == 0)
                {
                    continue;
                }
                try
                {
                    await _client.MergePatchAsync($"/api/v1/namespaces/{ns}/persistentvolumeclaims/{claimName}", new JsonObject
                    {
                        ["metadata"] = new JsonObject
                        {
                            ["resourceVersion"] = claim["metadata"]?["resourceVersion"]?.DeepClone(),
                            ["ownerReferences"] = new JsonArray([.. refs]),
                        },
                    }, ct).ConfigureAwait(false);
                }
                catch (ApiError e) when (e.IsNotFound)
                {
                }
            }
        }
    }

    private async Task EnsureClaimAsync(JsonObject set, JsonObject claim, string claimName, CancellationToken ct)
    {
        var ns = Namespace(set);
        try
        {
            await _client.GetAsync($"/api/v1/namespaces/{ns}/persistentvolumeclaims/{claimName}", ct).ConfigureAwait(false);
            return;
        }
        catch (ApiError e) when (e.IsNotFound)
        {
        }
        var labels = (JsonObject?)claim["metadata"]?["labels"]?.DeepClone() ?? [];
        foreach (var (k, v) in set["spec"]?["selector"]?["matchLabels"] as JsonObject ?? [])
        {
            labels[k] = v?.DeepClone();
        }
        try
        {
            await _client.CreateAsync($"/api/v1/namespaces/{ns}/persistentvolumeclaims", new JsonObject
            {
                ["apiVersion"] = "v1",
                ["kind"] = "PersistentVolumeClaim",
                ["metadata"] = new JsonObject
                {
                    ["name"] = claimName,
                    ["namespace"] = ns,
                    ["labels"] = labels,
                    ["ownerReferences"] = set["spec"]?["persistentVolumeClaimRetentionPolicy"]?["whenDeleted"]?.GetValue<string>() == "Delete"
                        ? new JsonArray(Reference(set, "apps/v1", "StatefulSet", controller: false))
                        : null,
                },
                ["spec"] = claim["spec"]?.DeepClone(),
            }, ct).ConfigureAwait(false);
        }
        catch (ApiError e) when (e.IsAlreadyExists)
        {
        }
    }

    private async Task DeleteAsync(string key, string ns, JsonObject pod, CancellationToken ct)
    {
        _expectations.Expect(key, 0, 1);
        try
        {
            await _client.DeleteAsync($"/api/v1/namespaces/{ns}/pods/{Name(pod)}", null, ct).ConfigureAwait(false);
            if (_sets.Get(key) is { } set)
            {
                Events?.Record(set, "apps/v1", "StatefulSet", "Normal", "SuccessfulDelete", $"delete Pod {Name(pod)} in StatefulSet {Name(set)} successful");
            }
        }
        catch (ApiError e) when (e.IsNotFound)
        {
            _expectations.Failed(key, add: false);
        }
    }

    private async Task WriteStatusAsync(JsonObject set, List<JsonObject> pods, int replicas, string currentRevision, string updateRevision, DateTimeOffset now, CancellationToken ct)
    {
        var live = pods.Where(p => !Deleting(p)).ToList();
        var updated = live.Count(p => RevisionOf(p) == updateRevision);
        var ready = live.Count(IsReady);
        var available = live.Count(p => Available(set, p, now));
        if (UntilNextAvailable(live, Long(set["spec"]?["minReadySeconds"]), now) is { } wait)
        {
            Queue.AddAfter(Informer.KeyOf(set), wait);
        }
        // The rollout is complete when every wanted pod runs the update revision: that becomes the current one.
        if (updated == replicas && live.Count == replicas && ready == replicas)
        {
            currentRevision = updateRevision;
        }
        var status = new JsonObject
        {
            ["observedGeneration"] = set["metadata"]?["generation"]?.DeepClone(),
            ["replicas"] = live.Count,
            ["readyReplicas"] = ready,
            ["currentReplicas"] = live.Count(p => RevisionOf(p) == currentRevision),
            ["updatedReplicas"] = updated,
            ["currentRevision"] = currentRevision,
            ["updateRevision"] = updateRevision,
            ["collisionCount"] = 0,
            ["availableReplicas"] = available,
        };
        foreach (var zero in (string[])["readyReplicas", "currentReplicas", "updatedReplicas"])
        {
            if (status[zero]!.GetValue<int>() == 0)
            {
                status.Remove(zero);
            }
        }
        if (JsonNode.DeepEquals(status, set["status"]))
        {
            return;
        }
        var copy = (JsonObject)set.DeepClone();
        copy["status"] = status;
        await _client.UpdateAsync($"/apis/apps/v1/namespaces/{Namespace(set)}/statefulsets/{Name(set)}/status", copy, ct).ConfigureAwait(false);
    }
}
