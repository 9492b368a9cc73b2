using System.Text.Json.Nodes;
using Tugboat.Scheduler.Framework;

namespace Tugboat.Scheduler.Plugins.DefaultPreemption;

/// <summary>
/// Preemption by priority, as upstream's DefaultPreemption post-filter: on each node that failed only for reasons
/// removing pods can fix, the pods of lower priority are taken away in simulation; if the pod then fits, as many of
/// them as possible are given back (highest priority first) and the rest are the victims. The node whose victims have
/// the lowest highest priority wins (then the lowest sum, then the fewest). The scheduler deletes the victims and
/// nominates the node; the pod is scheduled once they are gone.
/// </summary>
public sealed class DefaultPreemption : IPostFilterPlugin
{
    public const string NotHelpful = "Preemption is not helpful for scheduling";
    public const string NoVictims = "No preemption victims found for incoming pod";

    public string Name => nameof(DefaultPreemption);

    public PostFilterResult PostFilter(CycleState state, PodInfo pod, IReadOnlyList<(NodeInfo Node, Status Status)> failed, Func<NodeInfo, bool> fits)
    {
        if (pod.Spec["preemptionPolicy"]?.GetValue<string>() == "Never")
        {
            return new PostFilterResult(null, [], "preemption: not eligible due to preemptionPolicy=Never.");
        }
        var reasons = new List<string>();
        (NodeInfo Node, List<PodInfo> Victims)? best = null;
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
            // Give back as many as still let the pod fit, most important first.
            var victims = new List<PodInfo>();
            foreach (var p in lower)
            {
                trial.AddPod(p);
                if (!fits(trial))
                {
                    trial.RemovePod(p.Uid);
                    victims.Add(p);
                }
            }
            if (best is null || Better(victims, best.Value.Victims))
            {
                best = (node, victims);
            }
        }
        if (best is { } chosen)
        {
            return new PostFilterResult(chosen.Node, chosen.Victims, string.Empty);
        }
        return new PostFilterResult(null, [], $"preemption: 0/{failed.Count} nodes are available: {Profile.Histogram(reasons)}.");
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
