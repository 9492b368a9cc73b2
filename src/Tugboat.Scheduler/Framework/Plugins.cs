namespace Tugboat.Scheduler.Framework;

/// <summary>A scheduling plugin; each extension point it implements is one of the small interfaces below.</summary>
public interface IPlugin
{
    string Name { get; }
}

/// <summary>
/// Runs once per pod before filtering: precomputes into the cycle state, rejects the pod outright, or answers
/// <see cref="Status.Skip"/> when the pod gives the plugin's filter nothing to check (it then runs on no node).
/// </summary>
public interface IPreFilterPlugin : IPlugin
{
    Status PreFilter(CycleState state, PodInfo pod, IReadOnlyList<NodeInfo> nodes);
}

/// <summary>Whether the pod can run on the node.</summary>
public interface IFilterPlugin : IPlugin
{
    Status Filter(CycleState state, PodInfo pod, NodeInfo node);
}

/// <summary>
/// Runs once per pod before scoring, over the nodes that passed the filters; <see cref="Status.Skip"/> when the pod gives
/// the plugin nothing to score, so that its Score runs on no node (upstream's Skip).
/// </summary>
public interface IPreScorePlugin : IPlugin
{
    Status PreScore(CycleState state, PodInfo pod, IReadOnlyList<NodeInfo> nodes);
}

/// <summary>Ranks a feasible node, 0 to <see cref="MaxNodeScore"/> after normalization.</summary>
public interface IScorePlugin : IPlugin
{
    const long MaxNodeScore = 100;

    long Score(CycleState state, PodInfo pod, NodeInfo node);

    /// <summary>Rescales the raw scores of all feasible nodes into 0..100 (plugins whose raw scores already are return them unchanged).</summary>
    void Normalize(CycleState state, PodInfo pod, Span<long> scores)
    {
    }
}

/// <summary>What a post-filter (preemption) found for a pod no node fits: a node that would fit once victims go.</summary>
public sealed record PostFilterResult(NodeInfo? Node, IReadOnlyList<PodInfo> Victims, string Message);

/// <summary>Runs when no node fits the pod, with every node's filter status (e.g. preemption).</summary>
public interface IPostFilterPlugin : IPlugin
{
    /// <param name="fits">Runs the profile's filters for the pod against a node (or a copy of one with pods removed).</param>
    PostFilterResult PostFilter(CycleState state, PodInfo pod, IReadOnlyList<(NodeInfo Node, Status Status)> failed, Func<NodeInfo, bool> fits);
}
