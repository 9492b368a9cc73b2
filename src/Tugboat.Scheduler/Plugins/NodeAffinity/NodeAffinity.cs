using System.Globalization;
using System.Text.Json.Nodes;
using Tugboat.Scheduler.Framework;

namespace Tugboat.Scheduler.Plugins.NodeAffinity;

/// <summary>
/// spec.nodeSelector and requiredDuringSchedulingIgnoredDuringExecution node affinity (terms ORed, requirements
/// ANDed; In, NotIn, Exists, DoesNotExist, Gt, Lt; matchFields on metadata.name) as a filter, and the weights of the
/// matching preferredDuringScheduling terms as a score.
/// </summary>
public sealed class NodeAffinity : IPreFilterPlugin, IFilterPlugin, IPreScorePlugin, IScorePlugin
{
    public const string Reason = "node(s) didn't match Pod's node affinity/selector";

    public string Name => nameof(NodeAffinity);

    public Status PreFilter(CycleState state, PodInfo pod, IReadOnlyList<NodeInfo> nodes) =>
        pod.NodeSelector is { Count: > 0 } || pod.RequiredNodeSelectorTerms is { Count: > 0 } ? Status.Success : Status.Skip;

    public Status Filter(CycleState state, PodInfo pod, NodeInfo node)
    {
        if (pod.NodeSelector is { } selector)
        {
            foreach (var (key, value) in selector)
            {
                if (!node.Labels.TryGetValue(key, out var actual) || actual != value?.ToString())
                {
                    return Status.Unresolvable(Reason);
                }
            }
        }
        if (pod.RequiredNodeSelectorTerms is { Count: > 0 } terms && !terms.OfType<JsonObject>().Any(t => Matches(t, node)))
        {
            return Status.Unresolvable(Reason);
        }
        return Status.Success;
    }

    public Status PreScore(CycleState state, PodInfo pod, IReadOnlyList<NodeInfo> nodes) =>
        pod.PreferredNodeAffinityTerms is { Count: > 0 } ? Status.Success : Status.Skip;

    public long Score(CycleState state, PodInfo pod, NodeInfo node)
    {
        long total = 0;
        foreach (var term in pod.PreferredNodeAffinityTerms?.OfType<JsonObject>() ?? [])
        {
            if (term["preference"] is JsonObject preference && Matches(preference, node))
            {
                total += term["weight"] is JsonValue w && w.TryGetValue<int>(out var weight) ? weight : 0;
            }
        }
        return total;
    }

    /// <summary>Scales the summed weights so the best node gets 100, as upstream's default normalization.</summary>
    public void Normalize(CycleState state, PodInfo pod, Span<long> scores) => ScaleToMax(scores);

    internal static void ScaleToMax(Span<long> scores)
    {
        long max = 0;
        foreach (var s in scores)
        {
            max = Math.Max(max, s);
        }
        if (max == 0)
        {
            return;
        }
        for (var i = 0; i < scores.Length; i++)
        {
            scores[i] = scores[i] * IScorePlugin.MaxNodeScore / max;
        }
    }

    /// <summary>Whether a node selector term matches the node (the shared rule, on the node's cached labels).</summary>
    public static bool Matches(JsonObject term, NodeInfo node) => Tugboat.Api.Scheduling.NodeSelectors.Matches(term, node.Labels, node.Name);
}
