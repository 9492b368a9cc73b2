using System.Text.Json.Nodes;
using Tugboat.Api.Meta;
using Tugboat.Scheduler.Framework;

namespace Tugboat.Scheduler.Plugins.InterPodAffinity;

/// <summary>
/// Pod affinity and anti-affinity by topology domain (the value of a node label, e.g. kubernetes.io/hostname or a
/// zone): required terms of the incoming pod, required anti-affinity of pods already placed, and preferred terms as a
/// score — upstream's semantics, including that the first pod of a group may go anywhere when it matches its own
/// affinity term.
/// </summary>
public sealed class InterPodAffinity : IPreFilterPlugin, IFilterPlugin, IPreScorePlugin, IScorePlugin
{
    public const string AffinityReason = "node(s) didn't match pod affinity rules";
    public const string AntiAffinityReason = "node(s) didn't match pod anti-affinity rules";
    public const string ExistingAntiAffinityReason = "node(s) didn't satisfy existing pods anti-affinity rules";

    private const string FilterKey = "InterPodAffinity/filter";
    private const string ScoreKey = "InterPodAffinity/score";

    public string Name => nameof(InterPodAffinity);

    private sealed record Term(string TopologyKey, LabelSelector Selector, HashSet<string>? Namespaces, int Weight)
    {
        public bool Matches(PodInfo pod) => (Namespaces is null || Namespaces.Contains(pod.Namespace)) && Selector.Matches(pod.Labels);
    }

    private sealed class FilterState
    {
        public required List<(Term Term, HashSet<string> Domains)> Affinity { get; init; }
        public required List<(Term Term, HashSet<string> Domains)> AntiAffinity { get; init; }
        public required HashSet<(string Key, string Value)> ExistingAnti { get; init; }
        public bool AffinityMatchesNothing { get; init; }
    }

    private static List<Term> Terms(PodInfo pod, string kind, bool preferred)
    {
        var list = pod.Affinity?[kind]?[preferred ? "preferredDuringSchedulingIgnoredDuringExecution" : "requiredDuringSchedulingIgnoredDuringExecution"] as JsonArray;
        var result = new List<Term>();
        foreach (var item in list?.OfType<JsonObject>() ?? [])
        {
            var term = preferred ? item["podAffinityTerm"] as JsonObject : item;
            if (term?["topologyKey"]?.GetValue<string>() is not { Length: > 0 } key)
            {
                continue;
            }
            var namespaces = term["namespaces"] is JsonArray { Count: > 0 } ns ? ns.Select(n => n!.ToString()).ToHashSet(StringComparer.Ordinal)
                : term["namespaceSelector"] is JsonObject ? null
                : new HashSet<string>(StringComparer.Ordinal) { pod.Namespace };
            var weight = preferred && item["weight"] is JsonValue w && w.TryGetValue<int>(out var v) ? v : 1;
            result.Add(new Term(key, term["labelSelector"] is JsonObject sel ? LabelSelector.FromJson(sel) : LabelSelector.Parse("__never__ in (x)"), namespaces, weight));
        }
        return result;
    }

    /// <summary>
    /// Whether any pod placed in the cluster has required anti-affinity terms (set by the scheduler from its cache; may
    /// over-count, never under-count). When none has and the incoming pod has no required terms itself, the filter has
    /// nothing to check and the pre-filter does not visit every node — as upstream keeps a list of the nodes with such pods.
    /// </summary>
    public Func<bool>? AnyRequiredAntiAffinity { get; set; }

    public Status PreFilter(CycleState state, PodInfo pod, IReadOnlyList<NodeInfo> nodes)
    {
        var affinity = Terms(pod, "podAffinity", preferred: false).Select(t => (t, new HashSet<string>(StringComparer.Ordinal))).ToList();
        var anti = Terms(pod, "podAntiAffinity", preferred: false).Select(t => (t, new HashSet<string>(StringComparer.Ordinal))).ToList();
        if (affinity.Count == 0 && anti.Count == 0 && AnyRequiredAntiAffinity?.Invoke() == false)
        {
            return Status.Skip;
        }
        var existing = new HashSet<(string, string)>();
        var anyMatch = false;
        foreach (var node in nodes)
        {
            if (affinity.Count == 0 && anti.Count == 0 && node.AntiAffinityPodCount == 0)
            {
                continue;
            }
            foreach (var other in node.Pods)
            {
                foreach (var (term, domains) in affinity)
                {
                    if (term.Matches(other) && node.Labels.TryGetValue(term.TopologyKey, out var value))
                    {
                        domains.Add(value);
                        anyMatch = true;
                    }
                }
                foreach (var (term, domains) in anti)
                {
                    if (term.Matches(other) && node.Labels.TryGetValue(term.TopologyKey, out var value))
                    {
                        domains.Add(value);
                    }
                }
                if (other.HasRequiredAntiAffinity)
                {
                    foreach (var term in Terms(other, "podAntiAffinity", preferred: false))
                    {
                        if (term.Matches(pod) && node.Labels.TryGetValue(term.TopologyKey, out var value))
                        {
                            existing.Add((term.TopologyKey, value));
                        }
                    }
                }
            }
        }
        state.Write(FilterKey, new FilterState
        {
            Affinity = affinity,
            AntiAffinity = anti,
            ExistingAnti = existing,
            // The first pod of a group that has affinity to its own group may go anywhere.
            AffinityMatchesNothing = !anyMatch && affinity.All(a => a.Item1.Matches(pod)),
        });
        return Status.Success;
    }

    public Status Filter(CycleState state, PodInfo pod, NodeInfo node)
    {
        if (state.Read<FilterState>(FilterKey) is not { } s)
        {
            return Status.Success;
        }
        foreach (var (key, value) in s.ExistingAnti)
        {
            if (node.Labels.TryGetValue(key, out var v) && v == value)
            {
                return Status.Unschedulable(ExistingAntiAffinityReason);
            }
        }
        foreach (var (term, domains) in s.AntiAffinity)
        {
            if (node.Labels.TryGetValue(term.TopologyKey, out var v) && domains.Contains(v))
            {
                return Status.Unschedulable(AntiAffinityReason);
            }
        }
        if (s.Affinity.Count > 0 && !s.AffinityMatchesNothing)
        {
            foreach (var (term, domains) in s.Affinity)
            {
                if (!node.Labels.TryGetValue(term.TopologyKey, out var v) || !domains.Contains(v))
                {
                    return Status.Unschedulable(AffinityReason);
                }
            }
        }
        else if (s.Affinity.Count > 0 && s.Affinity.Any(a => !node.Labels.ContainsKey(a.Term.TopologyKey)))
        {
            return Status.Unresolvable(AffinityReason);
        }
        return Status.Success;
    }

    public Status PreScore(CycleState state, PodInfo pod, IReadOnlyList<NodeInfo> nodes)
    {
        var terms = Terms(pod, "podAffinity", preferred: true).Select(t => (t, 1))
            .Concat(Terms(pod, "podAntiAffinity", preferred: true).Select(t => (t, -1))).ToList();
        if (terms.Count == 0)
        {
            return Status.Skip;
        }
        var weights = new Dictionary<(string, string), long>();
        foreach (var node in nodes)
        {
            foreach (var other in node.Pods)
            {
                foreach (var (term, sign) in terms)
                {
                    if (term.Matches(other) && node.Labels.TryGetValue(term.TopologyKey, out var value))
                    {
                        weights[(term.TopologyKey, value)] = weights.GetValueOrDefault((term.TopologyKey, value)) + sign * term.Weight;
                    }
                }
            }
        }
        state.Write(ScoreKey, weights);
        return Status.Success;
    }

    public long Score(CycleState state, PodInfo pod, NodeInfo node)
    {
        if (state.Read<Dictionary<(string, string), long>>(ScoreKey) is not { Count: > 0 } weights)
        {
            return 0;
        }
        long score = 0;
        foreach (var ((key, value), weight) in weights)
        {
            if (node.Labels.TryGetValue(key, out var v) && v == value)
            {
                score += weight;
            }
        }
        return score;
    }

    /// <summary>Min-max scaling into 0..100, as upstream.</summary>
    public void Normalize(CycleState state, PodInfo pod, Span<long> scores)
    {
        if (scores.Length == 0)
        {
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
            scores[i] = max == min ? 0 : (scores[i] - min) * IScorePlugin.MaxNodeScore / (max - min);
        }
    }
}
