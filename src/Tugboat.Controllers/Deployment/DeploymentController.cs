using System.Globalization;
using System.Text.Json.Nodes;
using Tugboat.Client;
using Tugboat.Controllers.Runtime;
using static Tugboat.Controllers.Runtime.Owners;

namespace Tugboat.Controllers.Deployment;

/// <summary>
/// Rolls Deployments out through ReplicaSets, as upstream's controller: one ReplicaSet per pod template (named by its
/// <c>pod-template-hash</c>), revisions in the <c>deployment.kubernetes.io/revision</c> annotation, RollingUpdate within
/// maxSurge/maxUnavailable (scaling down old sets only as far as availability allows), Recreate (old sets to zero
/// first), paused deployments left alone, old sets beyond revisionHistoryLimit removed, and status with the Available
/// and Progressing conditions.
/// </summary>
public sealed class DeploymentController : IReconciler
{
    private const string RevisionAnnotation = "deployment.kubernetes.io/revision";
    private const string RevisionHistoryAnnotation = "deployment.kubernetes.io/revision-history";

    /// <summary>Upstream's bound on the revision history annotation's length; the oldest revisions go first.</summary>
    private const int RevisionHistoryLimitInChars = 2000;
    private const string HashLabel = "pod-template-hash";
    private readonly ApiClient _client;
    private readonly Informer _deployments;
    private readonly Informer _sets;

    public DeploymentController(ApiClient client, InformerFactory informers, WorkQueue<string> queue)
    {
        _client = client;
        Queue = queue;
        _deployments = informers.For("/apis/apps/v1/deployments", TimeSpan.FromMinutes(10));
        _sets = informers.For("/apis/apps/v1/replicasets", TimeSpan.FromMinutes(10));
        _deployments.Added += d => queue.Add(Informer.KeyOf(d));
        _deployments.Updated += (_, d) => queue.Add(Informer.KeyOf(d));
        _deployments.Deleted += d => queue.Add(Informer.KeyOf(d));
        _sets.Added += SetChanged;
        _sets.Updated += (old, s) =>
        {
            SetChanged(old);
            SetChanged(s);
        };
        _sets.Deleted += SetChanged;
    }

    /// <summary>Where the events this controller records go (none when null).</summary>
    public EventRecorder? Events { get; init; }

    public WorkQueue<string> Queue { get; }

    public IReadOnlyList<Informer> Informers => [_deployments, _sets];

    private void SetChanged(JsonObject set)
    {
        if (ControllerOf(set) is { } owner)
        {
            if (owner["kind"]?.GetValue<string>() == "Deployment")
            {
                Queue.Add(Namespace(set) + "/" + owner["name"]?.GetValue<string>());
            }
            return;
        }
        foreach (var d in _deployments.List().Where(d => Namespace(d) == Namespace(set)))
        {
            if (Selector(d) is { IsEmpty: false } selector && selector.Matches(Labels(set)))
            {
                Queue.Add(Informer.KeyOf(d));
            }
        }
    }

    public async Task ReconcileAsync(string key, CancellationToken ct)
    {
        var d = _deployments.Get(key);
        if (d is null || Deleting(d))
        {
            return;
        }
        var ns = Namespace(d);
        var sets = await ClaimSetsAsync(d, ct).ConfigureAwait(false);
        var template = d["spec"]?["template"] as JsonObject ?? [];
        var hash = PodTemplateHash.Of(template, Long(d["status"]?["collisionCount"]));
        var newSet = sets.FirstOrDefault(s => SameTemplate(s, template));
        var old = sets.Where(s => !ReferenceEquals(s, newSet)).ToList();
        var paused = d["spec"]?["paused"]?.GetValue<bool>() == true;
        var replicas = Long(d["spec"]?["replicas"], 1);
        var maxRevision = sets.Select(Revision).DefaultIfEmpty(0).Max();
        if (!paused)
        {
            if (newSet is null)
            {
                newSet = await CreateSetAsync(d, template, hash, maxRevision + 1, ct).ConfigureAwait(false);
            }
            else if (Revision(newSet) < maxRevision)
            {
                // A rollback: the template of an older set is current again, and it takes the next revision; the
                // revisions it had are kept in its revision history, as upstream keeps them.
                newSet = await _client.MergePatchAsync($"/apis/apps/v1/namespaces/{ns}/replicasets/{Name(newSet)}", new JsonObject
                {
                    ["metadata"] = new JsonObject
                    {
                        ["annotations"] = new JsonObject
                        {
                            [RevisionAnnotation] = (maxRevision + 1).ToString(CultureInfo.InvariantCulture),
                            [RevisionHistoryAnnotation] = RevisionHistory(newSet),
                        },
                    },
                }, ct).ConfigureAwait(false);
            }
            if (d["spec"]?["strategy"]?["type"]?.GetValue<string>() == "Recreate")
            {
                await RecreateAsync(d, newSet, old, replicas, ct).ConfigureAwait(false);
            }
            else
            {
                await RollAsync(d, newSet, old, replicas, ct).ConfigureAwait(false);
            }
            await CleanUpAsync(d, old, ct).ConfigureAwait(false);
            if (d["metadata"]?["annotations"]?[RevisionAnnotation]?.GetValue<string>() != Revision(newSet).ToString(CultureInfo.InvariantCulture))
            {
                await _client.MergePatchAsync($"/apis/apps/v1/namespaces/{ns}/deployments/{Name(d)}", new JsonObject
                {
                    ["metadata"] = new JsonObject { ["annotations"] = new JsonObject { [RevisionAnnotation] = Revision(newSet).ToString(CultureInfo.InvariantCulture) } },
                }, ct).ConfigureAwait(false);
                return;
            }
        }
        await WriteStatusAsync(d, newSet, sets, replicas, ct).ConfigureAwait(false);
    }

    private async Task<List<JsonObject>> ClaimSetsAsync(JsonObject d, CancellationToken ct)
    {
        var uid = d["metadata"]!["uid"]!.GetValue<string>();
        var selector = Selector(d);
        var owned = new List<JsonObject>();
        foreach (var set in _sets.List().Where(s => Namespace(s) == Namespace(d)))
        {
            var matches = !selector.IsEmpty && selector.Matches(Labels(set));
            var owner = ControllerUid(set);
            if (owner == uid && matches)
            {
                owned.Add(set);
            }
            else if (owner is null && matches && !Deleting(set))
            {
                var refs = set["metadata"]?["ownerReferences"]?.DeepClone() as JsonArray ?? new JsonArray();
                refs.Add(Reference(d, "apps/v1", "Deployment"));
                try
                {
                    owned.Add(await _client.MergePatchAsync($"/apis/apps/v1/namespaces/{Namespace(set)}/replicasets/{Name(set)}", new JsonObject
                    {
                        ["metadata"] = new JsonObject { ["ownerReferences"] = refs, ["resourceVersion"] = set["metadata"]!["resourceVersion"]!.DeepClone() },
                    }, ct).ConfigureAwait(false));
                }
                catch (ApiError e) when (e.IsNotFound || e.IsConflict)
                {
                }
            }
        }
        return owned;
    }

    private static bool SameTemplate(JsonObject set, JsonObject template)
    {
        var t = set["spec"]?["template"]?.DeepClone() as JsonObject ?? [];
        (t["metadata"]?["labels"] as JsonObject)?.Remove(HashLabel);
        if (t["metadata"]?["labels"] is JsonObject { Count: 0 } && template["metadata"]?["labels"] is null)
        {
            ((JsonObject)t["metadata"]!).Remove("labels");
        }
        return JsonNode.DeepEquals(Normalize(t), Normalize((JsonObject)template.DeepClone()));
    }

    private static JsonNode Normalize(JsonObject template)
    {
        // The API server adds creationTimestamp: null to templates; either side may have it.
        (template["metadata"] as JsonObject)?.Remove("creationTimestamp");
        return template;
    }

    private async Task<JsonObject> CreateSetAsync(JsonObject d, JsonObject template, string hash, long revision, CancellationToken ct)
    {
        var ns = Namespace(d);
        var podTemplate = (JsonObject)template.DeepClone();
        podTemplate.Ensure("metadata").Ensure("labels")[HashLabel] = hash;
        var selector = d["spec"]?["selector"]?.DeepClone() as JsonObject ?? new JsonObject();
        selector.Ensure("matchLabels")[HashLabel] = hash;
        var labels = podTemplate["metadata"]!["labels"]!.DeepClone();
        var set = new JsonObject
        {
            ["apiVersion"] = "apps/v1",
            ["kind"] = "ReplicaSet",
            ["metadata"] = new JsonObject
            {
                ["name"] = Name(d) + "-" + hash,
                ["namespace"] = ns,
                ["labels"] = labels,
                ["annotations"] = new JsonObject
                {
                    [RevisionAnnotation] = revision.ToString(CultureInfo.InvariantCulture),
                    ["deployment.kubernetes.io/desired-replicas"] = Long(d["spec"]?["replicas"], 1).ToString(CultureInfo.InvariantCulture),
                },
                ["ownerReferences"] = new JsonArray(Reference(d, "apps/v1", "Deployment")),
            },
            ["spec"] = new JsonObject
            {
                ["replicas"] = 0,
                ["minReadySeconds"] = Long(d["spec"]?["minReadySeconds"]),
                ["selector"] = selector,
                ["template"] = podTemplate,
            },
        };
        if (d["metadata"]?["annotations"]?["kubernetes.io/change-cause"] is { } cause)
        {
            set["metadata"]!["annotations"]!["kubernetes.io/change-cause"] = cause.DeepClone();
        }
        try
        {
            return await _client.CreateAsync($"/apis/apps/v1/namespaces/{ns}/replicasets", set, ct).ConfigureAwait(false);
        }
        catch (ApiError e) when (e.IsAlreadyExists)
        {
            // A set of that name exists without matching: a hash collision. Upstream bumps collisionCount and retries.
            var count = Long(d["status"]?["collisionCount"]) + 1;
            await _client.UpdateAsync($"/apis/apps/v1/namespaces/{ns}/deployments/{Name(d)}/status", WithStatus(d, s => s["collisionCount"] = count), ct).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Upstream's rolling update: scale the new set up within maxSurge, then the old ones down within maxUnavailable.</summary>
    private async Task RollAsync(JsonObject d, JsonObject newSet, List<JsonObject> old, long replicas, CancellationToken ct)
    {
        var maxSurge = Resolve(d["spec"]?["strategy"]?["rollingUpdate"]?["maxSurge"], replicas, roundUp: true, "25%");
        var maxUnavailable = Resolve(d["spec"]?["strategy"]?["rollingUpdate"]?["maxUnavailable"], replicas, roundUp: false, "25%");
        if (maxSurge == 0 && maxUnavailable == 0)
        {
            maxUnavailable = 1;
        }
        var spec = old.ToDictionary(Name, s => Long(s["spec"]?["replicas"]), StringComparer.Ordinal);
        var available = old.ToDictionary(Name, s => Long(s["status"]?["availableReplicas"]), StringComparer.Ordinal);
        var newSpec = Long(newSet["spec"]?["replicas"]);
        var newAvailable = Long(newSet["status"]?["availableReplicas"]);
        long Total() => spec.Values.Sum() + newSpec;

        if (newSpec > replicas)
        {
            newSpec = replicas;
            await ScaleAsync(d, newSet, newSpec, ct).ConfigureAwait(false);
        }
        else if (newSpec < replicas)
        {
            var room = replicas + maxSurge - Total();
            if (room > 0)
            {
                newSpec = Math.Min(replicas, newSpec + room);
                await ScaleAsync(d, newSet, newSpec, ct).ConfigureAwait(false);
            }
        }

        var minAvailable = replicas - maxUnavailable;
        var remaining = Total() - minAvailable - (newSpec - newAvailable);
        if (remaining <= 0)
        {
            return;
        }
        var oldest = old.OrderBy(Revision).ToList();
        // Unhealthy old replicas go first: they would otherwise block the rollout.
        foreach (var set in oldest)
        {
            var unhealthy = spec[Name(set)] - available[Name(set)];
            if (remaining <= 0 || unhealthy <= 0)
            {
                continue;
            }
            var down = Math.Min(unhealthy, remaining);
            spec[Name(set)] -= down;
            remaining -= down;
            await ScaleAsync(d, set, spec[Name(set)], ct).ConfigureAwait(false);
        }
        // Then healthy ones, as far as availability above the minimum allows.
        var budget = available.Values.Sum() + newAvailable - minAvailable;
        foreach (var set in oldest)
        {
            if (budget <= 0 || spec[Name(set)] == 0)
            {
                continue;
            }
            var down = Math.Min(spec[Name(set)], budget);
            spec[Name(set)] -= down;
            budget -= down;
            await ScaleAsync(d, set, spec[Name(set)], ct).ConfigureAwait(false);
        }
    }

    private async Task RecreateAsync(JsonObject d, JsonObject newSet, List<JsonObject> old, long replicas, CancellationToken ct)
    {
        var running = false;
        foreach (var set in old)
        {
            if (Long(set["spec"]?["replicas"]) > 0)
            {
                await ScaleAsync(d, set, 0, ct).ConfigureAwait(false);
                running = true;
            }
            running |= Long(set["status"]?["replicas"]) > 0;
        }
        if (!running && Long(newSet["spec"]?["replicas"]) != replicas)
        {
            await ScaleAsync(d, newSet, replicas, ct).ConfigureAwait(false);
        }
    }

    private async Task CleanUpAsync(JsonObject d, List<JsonObject> old, CancellationToken ct)
    {
        var limit = Long(d["spec"]?["revisionHistoryLimit"], 10);
        var idle = old.Where(s => Long(s["spec"]?["replicas"]) == 0 && Long(s["status"]?["replicas"]) == 0 && !Deleting(s)).OrderBy(Revision).ToList();
        foreach (var set in idle.Take(Math.Max(0, idle.Count - (int)limit)))
        {
            try
            {
                await _client.DeleteAsync($"/apis/apps/v1/namespaces/{Namespace(set)}/replicasets/{Name(set)}", null, ct).ConfigureAwait(false);
            }
            catch (ApiError e) when (e.IsNotFound)
            {
            }
        }
    }

    /// <summary>Scales a set with a merge patch: the replica count is the deployment's to set, whatever else changed.</summary>
    private async Task<JsonObject> ScaleAsync(JsonObject d, JsonObject set, long replicas, CancellationToken ct)
    {
        var before = Long(set["spec"]?["replicas"], 1);
        var scaled = await _client.MergePatchAsync($"/apis/apps/v1/namespaces/{Namespace(set)}/replicasets/{Name(set)}", new JsonObject { ["spec"] = new JsonObject { ["replicas"] = replicas } }, ct).ConfigureAwait(false);
        if (before != replicas)
        {
            Events?.Record(d, "apps/v1", "Deployment", "Normal", "ScalingReplicaSet", $"Scaled {(replicas > before ? "up" : "down")} replica set {Name(set)} from {before} to {replicas}");
        }
        return scaled;
    }

    private async Task WriteStatusAsync(JsonObject d, JsonObject? newSet, List<JsonObject> sets, long replicas, CancellationToken ct)
    {
        long Sum(string field) => sets.Sum(s => Long(s["status"]?[field]));
        var available = Sum("availableReplicas");
        var maxUnavailable = Resolve(d["spec"]?["strategy"]?["rollingUpdate"]?["maxUnavailable"], replicas, roundUp: false, "25%");
        var existing = d["status"]?["conditions"]?.AsArray().OfType<JsonObject>().ToList() ?? [];
        var now = DateTime.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
        JsonObject Condition(string type, string status, string reason, string message, bool touch = false)
        {
            var before = existing.FirstOrDefault(c => c["type"]?.GetValue<string>() == type);
            var since = before?["status"]?.GetValue<string>() == status ? before["lastTransitionTime"]?.GetValue<string>() : now;
            var updated = !touch && before?["status"]?.GetValue<string>() == status && before["reason"]?.GetValue<string>() == reason ? before["lastUpdateTime"]?.GetValue<string>() : now;
            return new JsonObject { ["type"] = type, ["status"] = status, ["lastUpdateTime"] = updated, ["lastTransitionTime"] = since, ["reason"] = reason, ["message"] = message };
        }
        var isAvailable = available >= replicas - maxUnavailable;
        var newName = newSet is null ? null : Name(newSet);
        var complete = newSet is not null && Long(newSet["status"]?["availableReplicas"]) >= replicas && sets.All(s => ReferenceEquals(s, newSet) || Long(s["status"]?["replicas"]) == 0);
        var status = new JsonObject
        {
            ["observedGeneration"] = Long(d["metadata"]?["generation"]),
            ["replicas"] = Sum("replicas"),
            ["updatedReplicas"] = newSet is null ? 0 : Long(newSet["status"]?["replicas"]),
            ["readyReplicas"] = Sum("readyReplicas"),
            ["availableReplicas"] = available,
            ["unavailableReplicas"] = Math.Max(0, Sum("replicas") - available),
            ["conditions"] = new JsonArray(
                Condition("Available", isAvailable ? "True" : "False", isAvailable ? "MinimumReplicasAvailable" : "MinimumReplicasUnavailable",
                    isAvailable ? "Deployment has minimum availability." : "Deployment does not have minimum availability."),
                Progressing()),
        };

        // Upstream's progress rules: progress (more updated, ready or available replicas, fewer old ones) renews the
        // Progressing condition; a rollout without progress for spec.progressDeadlineSeconds is marked
        // ProgressDeadlineExceeded (kubectl rollout status then fails); a paused one is Unknown.
        JsonObject Progressing()
        {
            var previous = existing.FirstOrDefault(c => c["type"]?.GetValue<string>() == "Progressing");
            var reason = previous?["reason"]?.GetValue<string>();
            var oldStatus = d["status"];
            var updatedNow = newSet is null ? 0 : Long(newSet["status"]?["replicas"]);
            var progressed = updatedNow > Long(oldStatus?["updatedReplicas"]) || Sum("readyReplicas") > Long(oldStatus?["readyReplicas"])
                || available > Long(oldStatus?["availableReplicas"]) || Sum("replicas") - updatedNow < Long(oldStatus?["replicas"]) - Long(oldStatus?["updatedReplicas"]);
            if (complete)
            {
                return Condition("Progressing", "True", "NewReplicaSetAvailable", $"ReplicaSet \"{newName}\" has successfully progressed.");
            }
            if (d["spec"]?["paused"]?.GetValue<bool>() == true)
            {
                return Condition("Progressing", "Unknown", "DeploymentPaused", "Deployment is paused");
            }
            if (progressed || reason is not ("ReplicaSetUpdated" or "ProgressDeadlineExceeded"))
            {
                return Condition("Progressing", "True", "ReplicaSetUpdated", $"ReplicaSet \"{newName}\" is progressing.", touch: progressed);
            }
            if (reason == "ProgressDeadlineExceeded")
            {
                return (JsonObject)previous!.DeepClone();
            }
            if (d["spec"]?["progressDeadlineSeconds"]?.GetValue<long>() is { } seconds
                && DateTime.TryParse(previous?["lastUpdateTime"]?.GetValue<string>(), CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var last))
            {
                var left = last.AddSeconds(seconds) - DateTime.UtcNow;
                if (left <= TimeSpan.Zero)
                {
                    return Condition("Progressing", "False", "ProgressDeadlineExceeded", $"ReplicaSet \"{newName}\" has timed out progressing.");
                }
                Queue.AddAfter(Informer.KeyOf(d), left + TimeSpan.FromSeconds(1));
            }
            return (JsonObject)previous!.DeepClone();
        }
        foreach (var zero in new[] { "readyReplicas", "availableReplicas", "unavailableReplicas", "updatedReplicas" })
        {
            if (Long(status[zero]) == 0)
            {
                status.Remove(zero);
            }
        }
        if (d["status"]?["collisionCount"] is { } collisions)
        {
            status["collisionCount"] = collisions.DeepClone();
        }
        if (JsonNode.DeepEquals(status, d["status"]))
        {
            return;
        }
        await _client.UpdateAsync($"/apis/apps/v1/namespaces/{Namespace(d)}/deployments/{Name(d)}/status", WithStatus(d, s =>
        {
            foreach (var (k, v) in status.ToList())
            {
                status.Remove(k);
                s[k] = v;
            }
        }), ct).ConfigureAwait(false);
    }

    private static JsonObject WithStatus(JsonObject d, Action<JsonObject> change)
    {
        var copy = (JsonObject)d.DeepClone();
        var status = new JsonObject();
        if (copy["status"] is JsonObject existing && existing["collisionCount"] is { } c)
        {
            status["collisionCount"] = c.DeepClone();
        }
        change(status);
        copy["status"] = status;
        return copy;
    }

    /// <summary>A set's revision history with its current revision appended (upstream's SetNewReplicaSetAnnotations).</summary>
    internal static string RevisionHistory(JsonObject set)
    {
        var current = Revision(set).ToString(CultureInfo.InvariantCulture);
        var history = set["metadata"]?["annotations"]?[RevisionHistoryAnnotation]?.GetValue<string>() ?? string.Empty;
        if (history.Length == 0)
        {
            return current;
        }
        var revisions = history.Split(',').ToList();
        var length = history.Length + current.Length + 1;
        while (length > RevisionHistoryLimitInChars && revisions.Count > 0)
        {
            length -= revisions[0].Length + 1;
            revisions.RemoveAt(0);
        }
        revisions.Add(current);
        return string.Join(",", revisions);
    }

    private static long Revision(JsonObject set) =>
        long.TryParse(set["metadata"]?["annotations"]?[RevisionAnnotation]?.GetValue<string>(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var r) ? r : 0;

    /// <summary>An int-or-percent against <paramref name="total"/>: percentages round up for surge and down for unavailability, as upstream.</summary>
    internal static long Resolve(JsonNode? value, long total, bool roundUp, string fallback)
    {
        var text = value?.ToString() ?? fallback;
        if (text.EndsWith('%') && double.TryParse(text[..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out var percent))
        {
            var exact = percent * total / 100.0;
            return (long)(roundUp ? Math.Ceiling(exact) : Math.Floor(exact));
        }
        return long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : 0;
    }
}
