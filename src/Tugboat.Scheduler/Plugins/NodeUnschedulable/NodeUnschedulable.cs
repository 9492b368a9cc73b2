using Tugboat.Scheduler.Framework;

namespace Tugboat.Scheduler.Plugins.NodeUnschedulable;

/// <summary>Cordoned nodes (spec.unschedulable) take only pods that tolerate node.kubernetes.io/unschedulable:NoSchedule.</summary>
public sealed class NodeUnschedulable : IFilterPlugin
{
    public const string Reason = "node(s) were unschedulable";

    public string Name => nameof(NodeUnschedulable);

    public Status Filter(CycleState state, PodInfo pod, NodeInfo node)
    {
        if (!node.Unschedulable)
        {
            return Status.Success;
        }
        return TaintToleration.TaintToleration.Tolerated(pod, "node.kubernetes.io/unschedulable", null, "NoSchedule") ? Status.Success : Status.Unresolvable(Reason);
    }
}
