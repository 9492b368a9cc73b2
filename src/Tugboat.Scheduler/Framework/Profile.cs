using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;
using Tugboat.Scheduler.Plugins.DefaultPreemption;
using Tugboat.Scheduler.Plugins.ImageLocality;
using Tugboat.Scheduler.Plugins.InterPodAffinity;
using Tugboat.Scheduler.Plugins.NodeAffinity;
using Tugboat.Scheduler.Plugins.NodeName;
using Tugboat.Scheduler.Plugins.NodePorts;
using Tugboat.Scheduler.Plugins.NodeResourcesBalancedAllocation;
using Tugboat.Scheduler.Plugins.NodeResourcesFit;
using Tugboat.Scheduler.Plugins.NodeUnschedulable;
using Tugboat.Scheduler.Plugins.PodTopologySpread;
using Tugboat.Scheduler.Plugins.TaintToleration;

namespace Tugboat.Scheduler.Framework;

/// <summary>What one scheduling attempt decided: a node, or why none (and, after preemption, a nominated node and its victims).</summary>
public sealed record ScheduleResult(NodeInfo? Node, string? FailureMessage, bool Unresolvable, int EvaluatedNodes, int FeasibleNodes)
{
    public NodeInfo? Nominated { get; init; }

    public IReadOnlyList<PodInfo> Victims { get; init; } = [];
}

/// <summary>
/// A scheduling profile: the enabled plugins per extension point and the weights of the scoring ones, run as
/// upstream's framework runs them (pre-filter once, filters per node until enough feasible nodes are found, starting
/// where the previous pod stopped; pre-score once; scores per feasible node, normalized and weighted).
/// </summary>
public sealed class Profile
{
    /// <summary>Plugins by name, for profiles that enable them by name.</summary>
    public static IReadOnlyDictionary<string, Func<IPlugin>> Registry { get; } = new Dictionary<string, Func<IPlugin>>(StringComparer.Ordinal)
    {
        [nameof(NodeUnschedulable)] = () => new NodeUnschedulable(),
        [nameof(NodeName)] = () => new NodeName(),
        [nameof(TaintToleration)] = () => new TaintToleration(),
        [nameof(NodeAffinity)] = () => new NodeAffinity(),
        [nameof(NodePorts)] = () => new NodePorts(),
        [nameof(NodeResourcesFit)] = () => new NodeResourcesFit(),
        [nameof(PodTopologySpread)] = () => new PodTopologySpread(),
        [nameof(InterPodAffinity)] = () => new InterPodAffinity(),
        [nameof(NodeResourcesBalancedAllocation)] = () => new NodeResourcesBalancedAllocation(),
        [nameof(ImageLocality)] = () => new ImageLocality(),
        [nameof(DefaultPreemption)] = () => new DefaultPreemption(),
    };

    /// <summary>Upstream's default score weights.</summary>
    private static readonly Dictionary<string, int> DefaultWeights = new(StringComparer.Ordinal)
    {
        [nameof(TaintToleration)] = 3,
        [nameof(NodeAffinity)] = 2,
        [nameof(InterPodAffinity)] = 2,
        [nameof(PodTopologySpread)] = 2,
        [nameof(NodeResourcesFit)] = 1,
        [nameof(NodeResourcesBalancedAllocation)] = 1,
        [nameof(ImageLocality)] = 1,
    };

    private readonly List<IPreFilterPlugin> _preFilters = [];
    private readonly List<IFilterPlugin> _filters = [];
    private readonly List<IPreScorePlugin> _preScores = [];
    private readonly List<IPostFilterPlugin> _postFilters = [];
    private readonly List<(IScorePlugin Plugin, int Weight)> _scores = [];
    private readonly Random _random = new();

    // A profile runs one scheduling cycle at a time (as its random tie-breaker already assumes), so the per-cycle
    // list of feasible nodes and the score arrays are kept for the next cycle instead of allocated per pod.
    private readonly List<NodeInfo> _feasible = [];
    private long[] _totals = [];
    private long[] _raw = [];

    public Profile(string schedulerName, IEnumerable<string> plugins)
    {
        SchedulerName = schedulerName;
        foreach (var name in plugins)
        {
            var plugin = Registry.TryGetValue(name, out var factory) ? factory() : throw new ArgumentException($"unknown scheduler plugin {name}");
            if (plugin is IPreFilterPlugin pf)
            {
                _preFilters.Add(pf);
            }
            if (plugin is IFilterPlugin f)
            {
                _filters.Add(f);
            }
            if (plugin is IPreScorePlugin ps)
            {
                _preScores.Add(ps);
            }
            if (plugin is IPostFilterPlugin post)
            {
                _postFilters.Add(post);
            }
            if (plugin is IScorePlugin s)
            {
                _scores.Add((s, DefaultWeights.GetValueOrDefault(name, 1)));
            }
        }
    }

    /// <summary>The profile's instance of a plugin, or null when the profile does not enable it.</summary>
    public T? Plugin<T>()
        where T : class, IPlugin => _postFilters.OfType<T>().Concat(_filters.OfType<T>()).Concat(_preFilters.OfType<T>()).Concat(_scores.Select(s => s.Plugin).OfType<T>()).FirstOrDefault();

    /// <summary>The default-scheduler profile with every built plugin, in upstream's order.</summary>
    public static Profile Default() => new("default-scheduler", Registry.Keys);

    public string SchedulerName { get; }

    /// <summary>
    /// Upstream's percentageOfNodesToScore (adaptive): all nodes up to 100, then 50% minus 1% per 125 nodes, at least
    /// 5%, and never fewer than 100 nodes.
    /// </summary>
    public static int FeasibleNodesToFind(int nodes)
    {
        if (nodes < 100)
        {
            return nodes;
        }
        var percentage = Math.Max(5, 50 - nodes / 125);
        return Math.Max(100, nodes * percentage / 100);
    }

    /// <summary>"3 Insufficient cpu, 1 node(s) …": each reason with its count, sorted as strings, as upstream prints them.</summary>
    public static string Histogram(IEnumerable<string> reasons) =>
        string.Join(", ", reasons.GroupBy(r => r).Select(g => $"{g.Count()} {g.Key}").Order(StringComparer.Ordinal));

    private const int PrefetchDistance = 8;

    /// <summary>
    /// Asks the processor to load a node's fields into the cache ahead of its turn. A cycle looks at hundreds of nodes
    /// whose objects lie far apart in the heap, and the first filter to touch each one otherwise waits for memory
    /// (measured: most of the filter loop's time at 5,000 nodes). A hint only: an object the collector moves meanwhile
    /// is just not prefetched.
    /// </summary>
    private static unsafe void Prefetch(NodeInfo node)
    {
        if (Sse.IsSupported)
        {
            var address = (byte*)Unsafe.As<NodeInfo, nint>(ref node);
            Sse.Prefetch0(address);
            Sse.Prefetch0(address + 64);
            Sse.Prefetch0(address + 128);
        }
    }

    private static Status RunFilters(List<IFilterPlugin> filters, CycleState state, PodInfo pod, NodeInfo node)
    {
        foreach (var filter in filters)
        {
            var status = filter.Filter(state, pod, node);
            if (!status.IsSuccess)
            {
                return status.Reason is null ? status with { Reason = filter.Name } : status;
            }
        }
        return Status.Success;
    }

    /// <summary>Picks a node for <paramref name="pod"/> among <paramref name="nodes"/>, starting the search at <paramref name="start"/> (advanced for the next pod).</summary>
    /// <param name="nominated">
    /// The node as the pod must see it: with the pods of at least its priority that preemption nominated to it
    /// (upstream counts them so that a lower-priority pod does not take the room made for them).
    /// </param>
    public ScheduleResult Schedule(PodInfo pod, IReadOnlyList<NodeInfo> nodes, ref int start, Func<PodInfo, NodeInfo, NodeInfo>? nominated = null)
    {
        if (nodes.Count == 0)
        {
            return new ScheduleResult(null, "no nodes available to schedule pods", false, 0, 0);
        }
        var state = new CycleState();
        // Filters whose pre-filter found nothing to check for this pod are not run on any node (upstream's Skip).
        var filters = _filters;
        foreach (var plugin in _preFilters)
        {
            var status = plugin.PreFilter(state, pod, nodes);
            if (status.Code == StatusCode.Skip)
            {
                if (plugin is IFilterPlugin unneeded)
                {
                    filters = ReferenceEquals(filters, _filters) ? [.. _filters] : filters;
                    filters.Remove(unneeded);
                }
            }
            else if (!status.IsSuccess)
            {
                return new ScheduleResult(null, $"0/{nodes.Count} nodes are available: {status.Reason}.", status.Code == StatusCode.UnschedulableAndUnresolvable, 0, 0);
            }
        }
        var want = FeasibleNodesToFind(nodes.Count);
        var feasible = _feasible;
        feasible.Clear();
        var failed = new List<(NodeInfo Node, Status Status)>();
        var evaluated = 0;
        for (; evaluated < nodes.Count && feasible.Count < want; evaluated++)
        {
            Prefetch(nodes[(start + evaluated + PrefetchDistance) % nodes.Count]);
            var node = nodes[(start + evaluated) % nodes.Count];
            var status = RunFilters(filters, state, pod, nominated?.Invoke(pod, node) ?? node);
            if (status.IsSuccess)
            {
                feasible.Add(node);
            }
            else
            {
                failed.Add((node, status));
            }
        }
        start = (start + evaluated) % nodes.Count;
        if (feasible.Count == 0)
        {
            // Upstream's FitError: the reasons counted over all nodes, each as "<count> <reason>", sorted as strings,
            // then what preemption found.
            var message = $"0/{nodes.Count} nodes are available: {Histogram(failed.Select(f => f.Status.Reason!))}.";
            var unresolvable = failed.All(f => f.Status.Code == StatusCode.UnschedulableAndUnresolvable);
            foreach (var post in _postFilters)
            {
                var result = post.PostFilter(state, pod, failed, node => RunFilters(filters, state, pod, node).IsSuccess);
                if (result.Node is { } target)
                {
                    return new ScheduleResult(null, message, false, evaluated, 0) { Nominated = target, Victims = result.Victims };
                }
                message += " " + result.Message;
            }
            return new ScheduleResult(null, message, unresolvable, evaluated, 0);
        }
        if (feasible.Count == 1)
        {
            return new ScheduleResult(feasible[0], null, false, evaluated, 1);
        }
        List<IPlugin>? unscored = null;
        foreach (var plugin in _preScores)
        {
            if (plugin.PreScore(state, pod, feasible).Code == StatusCode.Skip)
            {
                (unscored ??= []).Add(plugin);
            }
        }
        if (_totals.Length < feasible.Count)
        {
            _totals = new long[Math.Max(feasible.Count, want)];
            _raw = new long[_totals.Length];
        }
        var totals = _totals.AsSpan(0, feasible.Count);
        var raw = _raw.AsSpan(0, feasible.Count);
        totals.Clear();
        foreach (var (plugin, weight) in _scores)
        {
            if (unscored is not null && unscored.Contains(plugin))
            {
                continue;
            }
            for (var i = 0; i < feasible.Count; i++)
            {
                raw[i] = plugin.Score(state, pod, feasible[i]);
            }
            plugin.Normalize(state, pod, raw);
            for (var i = 0; i < feasible.Count; i++)
            {
                totals[i] += raw[i] * weight;
            }
        }
        // The highest total wins; ties are broken at random (upstream samples uniformly among them).
        var best = 0;
        var ties = 1;
        for (var i = 1; i < totals.Length; i++)
        {
            if (totals[i] > totals[best])
            {
                best = i;
                ties = 1;
            }
            else if (totals[i] == totals[best] && _random.Next(++ties) == 0)
            {
                best = i;
            }
        }
        return new ScheduleResult(feasible[best], null, false, evaluated, feasible.Count);
    }
}
