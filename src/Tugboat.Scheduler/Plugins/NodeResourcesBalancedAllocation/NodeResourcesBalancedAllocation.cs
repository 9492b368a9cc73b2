using Tugboat.Scheduler.Framework;

namespace Tugboat.Scheduler.Plugins.NodeResourcesBalancedAllocation;

/// <summary>Prefers nodes whose cpu and memory would be used in equal shares after placing the pod (upstream's formula: 100 × (1 − standard deviation of the fractions)).</summary>
public sealed class NodeResourcesBalancedAllocation : IScorePlugin
{
    public string Name => nameof(NodeResourcesBalancedAllocation);

    public long Score(CycleState state, PodInfo pod, NodeInfo node)
    {
        if (node.AllocatableMilliCpu == 0 || node.AllocatableMemory == 0)
        {
            return 0;
        }
        var cpu = Math.Min(1.0, (double)(node.NonZeroMilliCpu + NodeResourcesFit.NodeResourcesFit.NonZeroCpu(pod)) / node.AllocatableMilliCpu);
        var memory = Math.Min(1.0, (double)(node.NonZeroMemory + NodeResourcesFit.NodeResourcesFit.NonZeroMemory(pod)) / node.AllocatableMemory);
        var std = Math.Abs(cpu - memory) / 2;
        return (long)((1 - std) * IScorePlugin.MaxNodeScore);
    }
}
