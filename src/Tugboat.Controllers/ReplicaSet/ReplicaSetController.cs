using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Tugboat.Api.Meta;
using Tugboat.Client;
using Tugboat.Controllers.Runtime;
using static Tugboat.Controllers.Runtime.Owners;

namespace Tugboat.Controllers.ReplicaSet;

/// <summary>
/// Keeps each ReplicaSet's pods at its replica count, as upstream's controller: creates pods from the template (owned
/// by the set), deletes surplus ones (unscheduled, then not ready, then newest first), adopts matching orphans and
/// releases owned pods that no longer match, waits for its own creations and deletions to be observed before acting
/// again (expectations), and writes the set's status from the pods it observes.
/// </summary>
public sealed partial class ReplicaSetController : IReconciler
{
    private readonly ApiClient _client;
    private readonly Informer _sets;
    private readonly Informer _pods;
    private readonly Expectations _expectations = new();
    private readonly ILogger _logger;

    public ReplicaSetController(ApiClient client, InformerFactory informers, WorkQueue<string> queue, ILogger logger)
    {
        _client = client;
        _logger = logger;
        Queue = queue;
        _sets = informers.For("/apis/apps/v1/replicasets", TimeSpan.FromMinutes(10));
        _pods = informers.For("/api/v1/pods", TimeSpan.FromMinutes(10));
        _sets.Added += s => queue.Add(Informer.KeyOf(s));
        _sets.Updated += (_, s) => queue.Add(Informer.KeyOf(s));
        _sets.Deleted += s =>
        {
            _expectations.Forget(Informer.KeyOf(s));
            queue.Add(Informer.KeyOf(s));
        };
        _pods.Added += p => PodChanged(p, added: true);
        _pods.Updated += (old, p) =>
        {
            PodChanged(old, added: null);
            PodChanged(p, added: null);
        };
        _pods.Deleted += p => PodChanged(p, added: false);
    }

    /// <summary>Where the events this controller records go (none when null).</summary>
    public EventRecorder? Events { get; init; }

    public WorkQueue<string> Queue { get; }

    public IReadOnlyList<Informer> Informers => [_sets, _pods];

    private void PodChanged(JsonObject pod, bool? added)
    {
        var ns = pod["metadata"]?["namespace"]?.GetValue<string>() ?? string.Empty;
        if (ControllerOf(pod) is { } owner)
        {
            if (owner["kind"]?.GetValue<string>() != "ReplicaSet")
            {
                return;
            }
            var key = ns + "/" + owner["name"]?.GetValue<string>();
            if (added is { } a)
            {
                _expectations.Observed(key, a);
            }
            Queue.Add(key);
            return;
        }
        // An orphan: every set in its namespace whose selector matches may adopt it.
        var labels = Labels(pod);
        foreach (var set in _sets.List().Where(s => s["metadata"]?["namespace"]?.GetValue<string>() == ns))
        {
            if (Selector(set) is { IsEmpty: false } selector && selector.Matches(labels))
            {
                Queue.Add(Informer.KeyOf(set));
            }
        }
    }

    public async Task ReconcileAsync(string key, CancellationToken ct)
    {
        var set = _sets.Get(key);
        if (set is null)
        {
            _expectations.Forget(key);
            return;
        }
        var ns = set["metadata"]!["namespace"]!.GetValue<string>();
        var uid = set["metadata"]!["uid"]!.GetValue<string>();
        var deleting = set["metadata"]?["deletionTimestamp"] is not null;
        var selector = Selector(set);
        // Before the pods are listed: see Expectations.Satisfied.
        var satisfied = _expectations.Satisfied(key);
        var owned = new List<JsonObject>();
        foreach (var pod in _pods.List().Where(p => p["metadata"]?["namespace"]?.GetValue<string>() == ns))
        {
            var controller = ControllerOf(pod);
            var matches = !selector.IsEmpty && selector.Matches(Labels(pod));
            if (controller?["uid"]?.GetValue<string>() == uid)
            {
                if (matches)
                {
                    owned.Add(pod);
                }
                else
                {
                    await ReleaseAsync(pod, uid, ct).ConfigureAwait(false);
                }
            }
            else if (controller is null && matches && !deleting && pod["metadata"]?["deletionTimestamp"] is null)
            {
                if (await AdoptAsync(pod, set, ct).ConfigureAwait(false) is { } adopted)
                {
                    owned.Add(adopted);
                }
            }
        }
        var active = owned.Where(IsActive).ToList();
        if (!deleting && satisfied)
        {
            var want = (int)(set["spec"]?["replicas"]?.GetValue<long>() ?? 1);
            var diff = want - active.Count;
            if (diff > 0)
            {
                await CreatePodsAsync(key, set, diff, ct).ConfigureAwait(false);
            }
            else if (diff < 0)
            {
                await DeletePodsAsync(key, active, -diff, ct).ConfigureAwait(false);
            }
        }
        await WriteStatusAsync(set, active, ct).ConfigureAwait(false);
    }

    private async Task CreatePodsAsync(string key, JsonObject set, int count, CancellationToken ct)
    {
        var ns = set["metadata"]!["namespace"]!.GetValue<string>();
        _expectations.Expect(key, count, 0);
        var template = set["spec"]?["template"] as JsonObject ?? [];
        for (var i = 0; i < count; i++)
        {
            var pod = new JsonObject
            {
                ["apiVersion"] = "v1",
                ["kind"] = "Pod",
                ["metadata"] = new JsonObject
                {
                    ["generateName"] = set["metadata"]!["name"]!.GetValue<string>() + "-",
                    ["namespace"] = ns,
                    ["labels"] = template["metadata"]?["labels"]?.DeepClone(),
                    ["annotations"] = template["metadata"]?["annotations"]?.DeepClone(),
                    ["ownerReferences"] = new JsonArray(Reference(set, "apps/v1", "ReplicaSet")),
                },
                ["spec"] = template["spec"]?.DeepClone(),
            };
            try
            {
                var created = await _client.CreateAsync($"/api/v1/namespaces/{ns}/pods", pod, ct).ConfigureAwait(false);
                Events?.Record(set, "apps/v1", "ReplicaSet", "Normal", "SuccessfulCreate", $"Created pod: {Name(created)}");
            }
            catch (ApiError e)
            {
                _expectations.Failed(key, add: true);
                LogCreateFailed(key, e.Message);
                // The rest would fail the same way (a missing namespace, an invalid template): retry with backoff.
                for (var rest = i + 1; rest < count; rest++)
                {
                    _expectations.Failed(key, add: true);
                }
                throw;
            }
        }
    }

    private async Task DeletePodsAsync(string key, List<JsonObject> active, int count, CancellationToken ct)
    {
        // Upstream's order: unscheduled before scheduled, pending before running, not ready before ready, newest first.
        var victims = active
            .OrderBy(p => string.IsNullOrEmpty(p["spec"]?["nodeName"]?.GetValue<string>()) ? 0 : 1)
            .ThenBy(p => PhaseRank(p["status"]?["phase"]?.GetValue<string>()))
            .ThenBy(p => IsReady(p) ? 1 : 0)
            .ThenByDescending(p => p["metadata"]?["creationTimestamp"]?.GetValue<string>(), StringComparer.Ordinal)
            .Take(count)
            .ToList();
        _expectations.Expect(key, 0, victims.Count);
        foreach (var pod in victims)
        {
            var ns = pod["metadata"]!["namespace"]!.GetValue<string>();
            try
            {
                await _client.DeleteAsync($"/api/v1/namespaces/{ns}/pods/{pod["metadata"]!["name"]}", null, ct).ConfigureAwait(false);
                if (_sets.Get(key) is { } owner)
                {
                    Events?.Record(owner, "apps/v1", "ReplicaSet", "Normal", "SuccessfulDelete", $"Deleted pod: {Name(pod)}");
                }
            }
            catch (ApiError e) when (e.IsNotFound)
            {
                _expectations.Failed(key, add: false);
            }
        }
    }

    private static int PhaseRank(string? phase) => phase switch
    {
        "Pending" => 0,
        "Unknown" => 1,
        "Running" => 2,
        _ => 3,
    };

    private async Task<JsonObject?> AdoptAsync(JsonObject pod, JsonObject set, CancellationToken ct)
    {
        var ns = pod["metadata"]!["namespace"]!.GetValue<string>();
        var refs = pod["metadata"]?["ownerReferences"]?.DeepClone() as JsonArray ?? new JsonArray();
        refs.Add(Reference(set, "apps/v1", "ReplicaSet"));
        try
        {
            // The resourceVersion makes the adoption conditional: a pod that changed meanwhile is looked at again.
            return await _client.MergePatchAsync($"/api/v1/namespaces/{ns}/pods/{pod["metadata"]!["name"]}", new JsonObject
            {
                ["metadata"] = new JsonObject { ["ownerReferences"] = refs, ["resourceVersion"] = pod["metadata"]!["resourceVersion"]!.DeepClone() },
            }, ct).ConfigureAwait(false);
        }
        catch (ApiError e) when (e.IsNotFound || e.IsConflict)
        {
            return null;
        }
    }

    private async Task ReleaseAsync(JsonObject pod, string uid, CancellationToken ct)
    {
        var ns = pod["metadata"]!["namespace"]!.GetValue<string>();
        var kept = pod["metadata"]?["ownerReferences"]?.AsArray().Where(r => r?["uid"]?.GetValue<string>() != uid).Select(r => r!.DeepClone()).ToArray() ?? [];
        // An empty list is removed, as Go's omitempty leaves it out.
        JsonArray? refs = kept.Length == 0 ? null : new JsonArray(kept);
        try
        {
            await _client.MergePatchAsync($"/api/v1/namespaces/{ns}/pods/{pod["metadata"]!["name"]}", new JsonObject
            {
                ["metadata"] = new JsonObject { ["ownerReferences"] = refs, ["resourceVersion"] = pod["metadata"]!["resourceVersion"]!.DeepClone() },
            }, ct).ConfigureAwait(false);
        }
        catch (ApiError e) when (e.IsNotFound || e.IsConflict)
        {
        }
    }

    private async Task WriteStatusAsync(JsonObject set, List<JsonObject> active, CancellationToken ct)
    {
        var templateLabels = LabelsOf(set["spec"]?["template"]?["metadata"]?["labels"] as JsonObject);
        var minReady = set["spec"]?["minReadySeconds"]?.GetValue<long>() ?? 0;
        var now = DateTimeOffset.UtcNow;
        var status = new JsonObject
        {
            ["replicas"] = active.Count,
            ["fullyLabeledReplicas"] = active.Count(p => templateLabels.All(kv => Labels(p).TryGetValue(kv.Key, out var v) && v == kv.Value)),
            ["readyReplicas"] = active.Count(IsReady),
            ["availableReplicas"] = active.Count(p => IsAvailable(p, minReady, now)),
            ["observedGeneration"] = set["metadata"]?["generation"]?.GetValue<long>() ?? 0,
        };
        if (UntilNextAvailable(active, minReady, now) is { } wait)
        {
            Queue.AddAfter(Informer.KeyOf(set), wait);
        }
        var patch = (JsonObject)status.DeepClone();
        foreach (var zero in new[] { "readyReplicas", "availableReplicas" })
        {
            // Upstream omits zero counts (omitempty), so kubectl and clients see the same shape; the patch clears them.
            if (status[zero]!.GetValue<int>() == 0)
            {
                status.Remove(zero);
                patch[zero] = null;
            }
        }
        if (JsonNode.DeepEquals(status, set["status"]))
        {
            return;
        }
        // Status is this controller's alone: a merge patch does not conflict with others changing the spec.
        var ns = set["metadata"]!["namespace"]!.GetValue<string>();
        await _client.MergePatchAsync($"/apis/apps/v1/namespaces/{ns}/replicasets/{set["metadata"]!["name"]}/status", new JsonObject { ["status"] = patch }, ct).ConfigureAwait(false);
    }

    private static bool IsActive(JsonObject pod) =>
        pod["metadata"]?["deletionTimestamp"] is null && pod["status"]?["phase"]?.GetValue<string>() is not ("Succeeded" or "Failed");

    [LoggerMessage(Level = LogLevel.Warning, Message = "creating pods for ReplicaSet {Key} failed: {Error}")]
    private partial void LogCreateFailed(string key, string error);
}
