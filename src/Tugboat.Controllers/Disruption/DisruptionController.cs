using System.Text.Json.Nodes;
using Tugboat.Api.Meta;
using Tugboat.Client;
using Tugboat.Controllers.Runtime;
using static Tugboat.Controllers.Runtime.Owners;

namespace Tugboat.Controllers.Disruption;

/// <summary>
/// Upstream's disruption controller: keeps each PodDisruptionBudget's status — the pods it expects (the scale of the
/// selected pods' controllers, or the number of selected pods for an integer minAvailable), how many must stay healthy,
/// how many are (Ready, not being deleted, not just evicted), and so how many disruptions are allowed now, with the
/// DisruptionAllowed condition. Pods the eviction API has just evicted stay in status.disruptedPods until their
/// deletion shows (or two minutes pass), so that two evictions cannot spend the same budget.
/// </summary>
public sealed class DisruptionController : IReconciler
{
    /// <summary>How long an eviction's entry in disruptedPods holds when the pod's deletion never shows (upstream DeletionTimeout).</summary>
    public static readonly TimeSpan DeletionTimeout = TimeSpan.FromMinutes(2);

    private readonly ApiClient _client;
    private readonly Informer _budgets;
    private readonly Informer _pods;
    private readonly Informer _replicaSets;
    private readonly Informer _deployments;
    private readonly Informer _statefulSets;

    public DisruptionController(ApiClient client, InformerFactory informers, WorkQueue<string> queue)
    {
        _client = client;
        Queue = queue;
        _budgets = informers.For("/apis/policy/v1/poddisruptionbudgets", TimeSpan.FromMinutes(10));
        _pods = informers.For("/api/v1/pods", TimeSpan.FromMinutes(10));
        _replicaSets = informers.For("/apis/apps/v1/replicasets");
        _deployments = informers.For("/apis/apps/v1/deployments");
        _statefulSets = informers.For("/apis/apps/v1/statefulsets");
        _budgets.Added += b => queue.Add(Informer.KeyOf(b));
        _budgets.Updated += (_, b) => queue.Add(Informer.KeyOf(b));
        _pods.Added += PodChanged;
        _pods.Updated += (old, pod) =>
        {
            if (IsReady(old) != IsReady(pod) || Deleting(old) != Deleting(pod) || !JsonNode.DeepEquals(old["metadata"]?["labels"], pod["metadata"]?["labels"]))
            {
                PodChanged(pod);
            }
        };
        _pods.Deleted += PodChanged;
        // A controller's scale is the expected pod count of maxUnavailable and percentage budgets.
        foreach (var owners in new[] { _replicaSets, _deployments, _statefulSets })
        {
            owners.Updated += (old, now) =>
            {
                if (Long(old["spec"]?["replicas"], 1) != Long(now["spec"]?["replicas"], 1))
                {
                    EnqueueNamespace(Namespace(now));
                }
            };
        }
    }

    /// <summary>Where the events this controller records go (none when null).</summary>
    public EventRecorder? Events { get; init; }

    public WorkQueue<string> Queue { get; }

    public IReadOnlyList<Informer> Informers => [_budgets, _pods, _replicaSets, _deployments, _statefulSets];

    /// <summary>Whether a budget's selector picks a pod (policy/v1: an empty selector picks every pod of the namespace, none picks none).</summary>
    public static bool Selects(JsonObject budget, JsonObject pod)
    {
        if (budget["spec"]?["selector"] is not JsonObject selector || Namespace(budget) != Namespace(pod))
        {
            return false;
        }
        try
        {
            return LabelSelector.FromJson(selector).Matches(Labels(pod));
        }
        catch (FormatException)
        {
            return false;
        }
    }

    private void PodChanged(JsonObject pod)
    {
        foreach (var budget in _budgets.List().Where(b => Selects(b, pod)))
        {
            Queue.Add(Informer.KeyOf(budget));
        }
    }

    private void EnqueueNamespace(string ns)
    {
        foreach (var budget in _budgets.List().Where(b => Namespace(b) == ns))
        {
            Queue.Add(Informer.KeyOf(budget));
        }
    }

    public async Task ReconcileAsync(string key, CancellationToken ct)
    {
        var budget = _budgets.Get(key);
        if (budget is null || Deleting(budget))
        {
            return;
        }
        var pods = _pods.List().Where(p => Selects(budget, p)).ToList();
        var now = DateTimeOffset.UtcNow;
        JsonObject status;
        var expected = Expected(budget, pods);
        if (expected.Error is null)
        {
            var (disrupted, recheck) = StillDisrupted(budget, pods, now);
            var healthy = pods.Count(p => !Deleting(p) && IsReady(p) && !disrupted.ContainsKey(Name(p)));
            status = Status(budget, expected.Count, expected.DesiredHealthy, healthy, disrupted, null);
            if (recheck is { } at)
            {
                Queue.AddAfter(key, at - now);
            }
        }
        else
        {
            // Upstream's fail-safe: no disruptions while the expected count is unknown.
            Events?.Record(budget, "policy/v1", "PodDisruptionBudget", "Warning", "CalculateExpectedPodCountFailed", $"Failed to calculate the number of expected pods: {expected.Error}");
            status = Status(budget, 0, 0, 0, [], expected.Error);
        }
        if (JsonNode.DeepEquals(WithoutTimes(status), WithoutTimes(budget["status"] as JsonObject)))
        {
            return;
        }
        var copy = (JsonObject)budget.DeepClone();
        copy["status"] = status;
        await _client.UpdateAsync($"/apis/policy/v1/namespaces/{Namespace(budget)}/poddisruptionbudgets/{Name(budget)}/status", copy, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// The expected pod count and the healthy pods wanted: an integer minAvailable counts the selected pods; a
    /// percentage minAvailable or any maxUnavailable counts the replicas of the pods' controllers (percentages round up).
    /// </summary>
    internal (int Count, int DesiredHealthy, string? Error) Expected(JsonObject budget, List<JsonObject> pods)
    {
        var spec = budget["spec"];
        var minAvailable = spec?["minAvailable"];
        var maxUnavailable = spec?["maxUnavailable"];
        if (maxUnavailable is null && minAvailable is JsonValue v && v.TryGetValue<long>(out var min))
        {
            return (pods.Count, (int)min, null);
        }
        var scales = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var pod in pods)
        {
            if (ControllerOf(pod) is not { } owner)
            {
                return (0, 0, $"found no controller ref for pod \"{Name(pod)}\"");
            }
            var uid = owner["uid"]?.GetValue<string>() ?? string.Empty;
            if (scales.ContainsKey(uid))
            {
                continue;
            }
            if (ScaleOf(Namespace(pod), owner) is not { } scale)
            {
                return (0, 0, $"found no controllers for pod \"{Name(pod)}\"");
            }
            scales[uid] = scale;
        }
        var expected = (int)scales.Values.Sum();
        if (maxUnavailable is not null)
        {
            var unavailable = Deployment.DeploymentController.Resolve(maxUnavailable, expected, roundUp: true, "0");
            return (expected, (int)Math.Max(0, expected - unavailable), null);
        }
        return (expected, (int)Deployment.DeploymentController.Resolve(minAvailable, expected, roundUp: true, "0"), null);
    }

    /// <summary>The replicas of a pod's controller: a ReplicaSet counts its Deployment's, as upstream finds the scale.</summary>
    private long? ScaleOf(string ns, JsonObject owner)
    {
        var name = owner["name"]?.GetValue<string>() ?? string.Empty;
        switch (owner["kind"]?.GetValue<string>())
        {
            case "ReplicaSet" when _replicaSets.Get($"{ns}/{name}") is { } set:
                return ControllerOf(set) is { } deployment && deployment["kind"]?.GetValue<string>() == "Deployment"
                    && _deployments.Get($"{ns}/{deployment["name"]}") is { } d
                    ? Long(d["spec"]?["replicas"], 1)
                    : Long(set["spec"]?["replicas"], 1);
            case "StatefulSet" when _statefulSets.Get($"{ns}/{name}") is { } sts:
                return Long(sts["spec"]?["replicas"], 1);
            default:
                return null;
        }
    }

    /// <summary>
    /// The status's disruptedPods entries that still hold (the pod is there, not yet being deleted, evicted less than
    /// <see cref="DeletionTimeout"/> ago), and when the first of them runs out.
    /// </summary>
    private static (Dictionary<string, string> Disrupted, DateTimeOffset? Recheck) StillDisrupted(JsonObject budget, List<JsonObject> pods, DateTimeOffset now)
    {
        var recorded = budget["status"]?["disruptedPods"] as JsonObject;
        var kept = new Dictionary<string, string>(StringComparer.Ordinal);
        DateTimeOffset? recheck = null;
        foreach (var pod in pods.Where(p => !Deleting(p)))
        {
            if (recorded?[Name(pod)]?.GetValue<string>() is not { } at || !DateTimeOffset.TryParse(at, out var when))
            {
                continue;
            }
            var expires = when + DeletionTimeout;
            if (expires > now)
            {
                kept[Name(pod)] = at;
                recheck = recheck is null || expires < recheck ? expires : recheck;
            }
        }
        return (kept, recheck);
    }

    private static JsonObject Status(JsonObject budget, int expected, int desired, int healthy, Dictionary<string, string> disrupted, string? error)
    {
        var allowed = error is null ? Math.Max(0, healthy - desired) : 0;
        var generation = budget["metadata"]?["generation"]?.DeepClone();
        var conditionStatus = allowed > 0 ? "True" : "False";
        var reason = error is not null ? "SyncFailed" : allowed > 0 ? "SufficientPods" : "InsufficientPods";
        var previous = budget["status"]?["conditions"]?.AsArray().OfType<JsonObject>().FirstOrDefault(c => c["type"]?.GetValue<string>() == "DisruptionAllowed");
        var transition = previous?["status"]?.GetValue<string>() == conditionStatus && previous["lastTransitionTime"] is { } t
            ? t.DeepClone()
            : Times.Format(DateTimeOffset.UtcNow);
        var status = new JsonObject
        {
            ["observedGeneration"] = generation,
            ["disruptionsAllowed"] = allowed,
            ["currentHealthy"] = healthy,
            ["desiredHealthy"] = desired,
            ["expectedPods"] = expected,
            ["conditions"] = new JsonArray(new JsonObject
            {
                ["type"] = "DisruptionAllowed",
                ["status"] = conditionStatus,
                ["reason"] = reason,
                ["message"] = error ?? string.Empty,
                ["observedGeneration"] = generation?.DeepClone(),
                ["lastTransitionTime"] = transition,
            }),
        };
        if (disrupted.Count > 0)
        {
            var map = new JsonObject();
            foreach (var (pod, at) in disrupted)
            {
                map[pod] = at;
            }
            status["disruptedPods"] = map;
        }
        return status;
    }

    private static JsonObject? WithoutTimes(JsonObject? status)
    {
        if (status?.DeepClone() is not JsonObject copy)
        {
            return null;
        }
        foreach (var condition in copy["conditions"]?.AsArray().OfType<JsonObject>() ?? [])
        {
            condition.Remove("lastTransitionTime");
        }
        return copy;
    }
}
