using Tugboat.Scheduler.Framework;

namespace Tugboat.Scheduler.Plugins.NodeName;

/// <summary>A pod that names its node (spec.nodeName set before scheduling, as upstream's plugin checks) fits only there.</summary>
public sealed class NodeName : IPreFilterPlugin, IFilterPlugin
{
    public const string Reason = "node(s) didn't match the requested node name";

    public string Name => nameof(NodeName);

    public Status PreFilter(CycleState state, PodInfo pod, IReadOnlyList<NodeInfo> nodes) =>
        pod.NodeName is null ? Status.Skip : Status.Success;

    public Status Filter(CycleState state, PodInfo pod, NodeInfo node) =>
        pod.NodeName is null || pod.NodeName == node.Name ? Status.Success : Status.Unresolvable(Reason);
}
