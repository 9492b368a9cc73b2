using System.Text.Json.Nodes;
using Tugboat.Api.Meta;
using Tugboat.Scheduler.Framework;

namespace Tugboat.Scheduler.Plugins.PodTopologySpread;

/// <summary>
/// spec.topologySpreadConstraints: pods matching a constraint's selector are counted per topology domain (the value of
/// the node label <c>topologyKey</c>) over the nodes the pod could go to (its node selector and required affinity —
/// upstream's default nodeAffinityPolicy Honor; taints ignored — nodeTaintsPolicy Ignore). DoNotSchedule constraints
/// filter out a node whose domain would exceed <c>maxSkew</c> over the least-populated domain (taken as 0 while fewer
/// than <c>minDomains</c> domains exist); ScheduleAnyway constraints score domains with fewer matching pods higher.
/// A pod without constraints gets upstream's system defaults for scoring — ScheduleAnyway by hostname (maxSkew 3) and
/// by zone (maxSkew 5) — over the pods its Services and controller select (<see cref="DefaultSelector"/>); nodes
/// without a zone label simply do not count for the zone.
/// </summary>
public sealed class PodTopologySpread : IPreFilterPlugin, IFilterPlugin, IPreScorePlugin, IScorePlugin
{
    public const string Reason = "node(s) didn't match pod topology spread constraints";
    public const string MissingLabelReason = "node(s) didn't match pod topology spread constraints (missing required label)";
    private const string FilterKey = "PodTopologySpread/filter";
    private const string ScoreKey = "PodTopologySpread/score";

    public string Name => nameof(PodTopologySpread);

    /// <summary>Upstream's system-default constraints (defaultingType: System).</summary>
    private static readonly (string Key, int MaxSkew)[] SystemDefaults = [("kubernetes.io/hostname", 3), ("topology.kubernetes.io/zone", 5)];

    /// <summary>
    /// The selector a pod's system-default constraints count with: the selectors of the Services that select it and
    /// of its controller merged (upstream's DefaultSelector), or null when there is none; unset, no defaults apply.
    /// </summary>
    public Func<PodInfo, LabelSelector?> DefaultSelector { get; set; } = _ => null;

    private sealed record Constraint(string TopologyKey, int MaxSkew, int MinDomains, LabelSelector Selector, bool SelfMatch, Dictionary<string, int> Counts);

    private List<Constraint> Constraints(PodInfo pod, IReadOnlyList<NodeInfo> nodes, string when)
    {
        var result = new List<Constraint>();
        var explicitConstraints = pod.Spec["topologySpreadConstraints"]?.AsArray().OfType<JsonObject>().ToList() ?? [];
        var defaultSelector = explicitConstraints.Count == 0 && when == "ScheduleAnyway" ? DefaultSelector(pod) : null;
        if (explicitConstraints.Count == 0 && defaultSelector is not { IsEmpty: false })
        {
            return result;
        }
        // Only the nodes the pod may go to count (nodeAffinityPolicy Honor); without placement rules, all of them.
        var placed = pod.Spec["nodeSelector"] is JsonObject { Count: > 0 } || pod.Affinity?["nodeAffinity"]?["requiredDuringSchedulingIgnoredDuringExecution"] is not null;
        var affinity = new NodeAffinity.NodeAffinity();
        var eligible = placed ? nodes.Where(n => affinity.Filter(new CycleState(), pod, n).IsSuccess).ToList() : nodes;
        if (explicitConstraints.Count == 0 && defaultSelector is not null)
        {
            // One pass counts both default topologies; a topology no node has (zones, often) is left out.
            var domains = SystemDefaults.Select(_ => new Dictionary<string, int>(StringComparer.Ordinal)).ToArray();
            foreach (var node in eligible)
            {
                var count = -1;
                for (var i = 0; i < SystemDefaults.Length; i++)
                {
                    if (node.Labels.TryGetValue(SystemDefaults[i].Key, out var domain))
                    {
                        count = count >= 0 ? count : node.Pods.Count(p => p.Namespace == pod.Namespace && defaultSelector.Matches(p.Labels));
                        domains[i][domain] = domains[i].GetValueOrDefault(domain) + count;
                    }
                }
            }
            for (var i = 0; i < SystemDefaults.Length; i++)
            {
                if (domains[i].Count > 0)
                {
                    result.Add(new Constraint(SystemDefaults[i].Key, SystemDefaults[i].MaxSkew, 1, defaultSelector, defaultSelector.Matches(pod.Labels), domains[i]));
                }
            }
            return result;
        }
        foreach (var c in explicitConstraints)
        {
            if ((c["whenUnsatisfiable"]?.GetValue<string>() ?? "DoNotSchedule") != when || c["topologyKey"]?.GetValue<string>() is not { Length: > 0 } key)
            {
                continue;
            }
            var selector = c["labelSelector"] is JsonObject s ? LabelSelector.FromJson(s) : LabelSelector.Parse("__never__ in (x)");
            var counts = Count(eligible, key, pod.Namespace, selector);
            var maxSkew = c["maxSkew"] is JsonValue m && m.TryGetValue<int>(out var ms) ? ms : 1;
            var minDomains = c["minDomains"] is JsonValue d && d.TryGetValue<int>(out var md) ? md : 1;
            result.Add(new Constraint(key, maxSkew, minDomains, selector, selector.Matches(pod.Labels), counts));
        }
        return result;
    }

    /// <summary>Matching pods of the namespace per domain of <paramref name="key"/>, over the nodes that have the label.</summary>
    private static Dictionary<string, int> Count(IReadOnlyList<NodeInfo> nodes, string key, string ns, LabelSelector selector)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var node in nodes)
        {
            if (node.Labels.TryGetValue(key, out var domain))
            {
                counts[domain] = counts.GetValueOrDefault(domain) + node.Pods.Count(p => p.Namespace == ns && selector.Matches(p.Labels));
            }
        }
        return counts;
    }

    public Status PreFilter(CycleState state, PodInfo pod, IReadOnlyList<NodeInfo> nodes)
    {
        if (pod.Spec["topologySpreadConstraints"] is not JsonArray { Count: > 0 })
        {
            return Status.Skip;
        }
        var constraints = Constraints(pod, nodes, "DoNotSchedule");
        if (constraints.Count == 0)
        {
            return Status.Skip;
        }
        state.Write(FilterKey, constraints);
        return Status.Success;
    }

    public Status Filter(CycleState state, PodInfo pod, NodeInfo node)
    {
        if (state.Read<List<Constraint>>(FilterKey) is not { Count: > 0 } constraints)
        {
            return Status.Success;
        }
        foreach (var c in constraints)
        {
            if (!node.Labels.TryGetValue(c.TopologyKey, out var domain))
            {
                return Status.Unresolvable(MissingLabelReason);
            }
            var min = c.Counts.Count < c.MinDomains || c.Counts.Count == 0 ? 0 : c.Counts.Values.Min();
            var skew = c.Counts.GetValueOrDefault(domain) + (c.SelfMatch ? 1 : 0) - min;
            if (skew > c.MaxSkew)
            {
                return Status.Unschedulable(Reason);
            }
        }
        return Status.Success;
    }

    public Status PreScore(CycleState state, PodInfo pod, IReadOnlyList<NodeInfo> nodes)
    {
        var constraints = Constraints(pod, nodes, "ScheduleAnyway");
        if (constraints.Count == 0)
        {
            return Status.Skip;
        }
        state.Write(ScoreKey, constraints);
        return Status.Success;
    }

    /// <summary>The matching pods in the node's domains; fewer is better after normalization.</summary>
    public long Score(CycleState state, PodInfo pod, NodeInfo node)
    {
        if (state.Read<List<Constraint>>(ScoreKey) is not { Count: > 0 } constraints)
        {
            return 0;
        }
        long score = 0;
        foreach (var c in constraints)
        {
            if (node.Labels.TryGetValue(c.TopologyKey, out var domain))
            {
                // Upstream weighs each constraint by log(number of domains + 2), so that wide topologies count more.
                score += (long)(c.Counts.GetValueOrDefault(domain) * Math.Log(c.Counts.Count + 2) * 100);
            }
        }
        return score;
    }

    public void Normalize(CycleState state, PodInfo pod, Span<long> scores)
    {
        if (state.Read<List<Constraint>>(ScoreKey) is not { Count: > 0 } || scores.Length == 0)
        {
            for (var i = 0; i < scores.Length; i++)
            {
                scores[i] = 0;
            }
            return;
        }
        long min = long.MaxValue, max = long.MinValue;
        foreach (var s in scores)
        {
            min = Math.Min(min, s);
            max = Math.Max(max, s);
        }
        for (var i = 0; i < scores.Length; i++)
        {
            scores[i] = max == 0 ? IScorePlugin.MaxNodeScore : IScorePlugin.MaxNodeScore * (max + min - scores[i]) / max;
        }
    }
}
