using System.Text.Json.Nodes;
using Tugboat.Api.Meta;
using Tugboat.Scheduler.Framework;

namespace Tugboat.Scheduler.Plugins.DefaultPreemption;

/// <summary>
/// Preemption by priority, as upstream's DefaultPreemption post-filter: on each node that failed only for reasons
/// removing pods can fix, the pods of lower priority are taken away in simulation; if the pod then fits, as many of
/// them as possible are given back — first those whose eviction would break a PodDisruptionBudget, then the others,
/// highest priority first within each — and the rest are the victims. The node with the fewest budget violations
/// wins, then the one whose victims have the lowest highest priority, then the lowest sum, then the fewest. The
/// scheduler deletes the victims and nominates the node; the pod is scheduled once they are gone.
/// </summary>
public sealed class DefaultPreemption : IPostFilterPlugin
{
    public const string NotHelpful = "Preemption is not helpful for scheduling";
    public const string NoVictims = "No preemption victims found for incoming pod";

    public string Name => nameof(DefaultPreemption);

    /// <summary>The cluster's PodDisruptionBudgets (policy/v1 objects with their status), read at each preemption.</summary>
    public Func<IReadOnlyList<JsonObject>> DisruptionBudgets { get; set; } = () => [];

    public PostFilterResult PostFilter(CycleState state, PodInfo pod, IReadOnlyList<(NodeInfo Node, Status Status)> failed, Func<NodeInfo, bool> fits)
    {
        if (pod.Spec["preemptionPolicy"]?.GetValue<string>() == "Never")
        {
            return new PostFilterResult(null, [], "preemption: not eligible due to preemptionPolicy=Never.");
        }
        var reasons = new List<string>();
        var budgets = DisruptionBudgets();
        (NodeInfo Node, List<PodInfo> Victims, int Violations)? best = null;
        foreach (var (node, status) in failed)
        {
            if (status.Code == StatusCode.UnschedulableAndUnresolvable)
            {
                reasons.Add(NotHelpful);
                continue;
            }
            var lower = node.Pods.Where(p => p.Priority < pod.Priority).OrderByDescending(p => p.Priority).ToList();
            var trial = new NodeInfo(node.Node);
            foreach (var p in node.Pods.Where(p => p.Priority >= pod.Priority))
            {
                trial.AddPod(p);
            }
            if (lower.Count == 0 || !fits(trial))
            {
                reasons.Add(NoVictims);
                continue;
            }
            // Give back as many as still let the pod fit: those a budget protects first, most important first.
            var violating = Violating(lower, budgets);
            var victims = new List<PodInfo>();
            var violations = 0;
            foreach (var p in lower.Where(violating.Contains).Concat(lower.Where(p => !violating.Contains(p))))
            {
                trial.AddPod(p);
                if (!fits(trial))
                {
                    trial.RemovePod(p.Uid);
                    victims.Add(p);
                    violations += violating.Contains(p) ? 1 : 0;
                }
            }
            if (best is null || violations < best.Value.Violations || (violations == best.Value.Violations && Better(victims, best.Value.Victims)))
            {
                best = (node, victims, violations);
            }
        }
        if (best is { } chosen)
        {
            return new PostFilterResult(chosen.Node, chosen.Victims, string.Empty);
        }
        return new PostFilterResult(null, [], $"preemption: 0/{failed.Count} nodes are available: {Profile.Histogram(reasons)}.");
    }

    /// <summary>
    /// The pods whose eviction would break a budget, as upstream's filterPodsWithPDBViolation: each budget selecting a
    /// pod (same namespace, non-empty selector, the pod not already counted as disrupted) spends one of its allowed
    /// disruptions on it, in the order given; a pod that finds a budget spent violates it.
    /// </summary>
    internal static HashSet<PodInfo> Violating(IReadOnlyList<PodInfo> pods, IReadOnlyList<JsonObject> budgets)
    {
        var allowed = budgets.Select(b => b["status"]?["disruptionsAllowed"] is JsonValue v && v.TryGetValue<int>(out var n) ? n : 0).ToArray();
        var selectors = budgets.Select(b =>
        {
            try
            {
                var selector = LabelSelector.FromJson(b["spec"]?["selector"]);
                return selector.IsEmpty ? null : selector;
            }
            catch (FormatException)
            {
                return null;
            }
        }).ToArray();
        var violating = new HashSet<PodInfo>();
        foreach (var pod in pods)
        {
            for (var i = 0; i < budgets.Count; i++)
            {
                if (selectors[i] is not { } selector || budgets[i]["metadata"]?["namespace"]?.GetValue<string>() != pod.Namespace
                    || !selector.Matches(pod.Labels) || budgets[i]["status"]?["disruptedPods"]?[pod.Name] is not null)
                {
                    continue;
                }
                if (--allowed[i] < 0)
                {
                    violating.Add(pod);
                }
            }
        }
        return violating;
    }

    private static bool Better(List<PodInfo> a, List<PodInfo> b)
    {
        var (maxA, maxB) = (a.Count == 0 ? int.MinValue : a.Max(p => p.Priority), b.Count == 0 ? int.MinValue : b.Max(p => p.Priority));
        if (maxA != maxB)
        {
            return maxA < maxB;
        }
        var (sumA, sumB) = (a.Sum(p => (long)p.Priority), b.Sum(p => (long)p.Priority));
        return sumA != sumB ? sumA < sumB : a.Count < b.Count;
    }
}
