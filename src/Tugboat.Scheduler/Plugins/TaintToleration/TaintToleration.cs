using System.Text.Json.Nodes;
using Tugboat.Scheduler.Framework;

namespace Tugboat.Scheduler.Plugins.TaintToleration;

/// <summary>
/// Taints with effect NoSchedule or NoExecute keep out pods that do not tolerate them (filter); PreferNoSchedule taints
/// count against a node (score: fewer untolerated PreferNoSchedule taints is better).
/// </summary>
public sealed class TaintToleration : IFilterPlugin, IScorePlugin
{
    public string Name => nameof(TaintToleration);

    public Status Filter(CycleState state, PodInfo pod, NodeInfo node)
    {
        foreach (var taint in node.Taints)
        {
            var effect = taint["effect"]?.GetValue<string>();
            if (effect is not ("NoSchedule" or "NoExecute"))
            {
                continue;
            }
            var key = taint["key"]?.GetValue<string>() ?? string.Empty;
            var value = taint["value"]?.GetValue<string>();
            if (!Tolerated(pod, key, value, effect))
            {
                return Status.Unresolvable($"node(s) had untolerated taint {{{key}: {value}}}");
            }
        }
        return Status.Success;
    }

    public long Score(CycleState state, PodInfo pod, NodeInfo node)
    {
        long count = 0;
        foreach (var taint in node.Taints)
        {
            if (taint["effect"]?.GetValue<string>() == "PreferNoSchedule"
                && !Tolerated(pod, taint["key"]?.GetValue<string>() ?? string.Empty, taint["value"]?.GetValue<string>(), "PreferNoSchedule"))
            {
                count++;
            }
        }
        return count;
    }

    /// <summary>Whether any of the pod's tolerations tolerates the taint.</summary>
    public static bool Tolerated(PodInfo pod, string key, string? value, string effect)
    {
        foreach (var toleration in pod.Tolerations)
        {
            if (Tugboat.Api.Scheduling.Tolerations.Tolerates(toleration, key, value, effect))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>Fewer intolerable taints is better: upstream's reverse normalization.</summary>
    public void Normalize(CycleState state, PodInfo pod, Span<long> scores)
    {
        long max = 0;
        foreach (var s in scores)
        {
            max = Math.Max(max, s);
        }
        for (var i = 0; i < scores.Length; i++)
        {
            scores[i] = max == 0 ? IScorePlugin.MaxNodeScore : IScorePlugin.MaxNodeScore - scores[i] * IScorePlugin.MaxNodeScore / max;
        }
    }
}
