using Tugboat.Scheduler.Framework;

namespace Tugboat.Scheduler.Plugins.NodeResourcesFit;

/// <summary>
/// Requests against allocatable (cpu, memory, ephemeral storage, and the pod count), as upstream's filter; scores by
/// the LeastAllocated strategy (upstream's default): the share left free after placing the pod, cpu and memory
/// weighted equally.
/// </summary>
public sealed class NodeResourcesFit : IFilterPlugin, IScorePlugin
{
    public string Name => nameof(NodeResourcesFit);

    public Status Filter(CycleState state, PodInfo pod, NodeInfo node)
    {
        // Upstream reports every shortage; the first one decides the status but all are counted in the message.
        if (node.PodCount + 1 > node.AllocatablePods)
        {
            return Status.Unschedulable("Too many pods");
        }
        if (pod.MilliCpu > 0 && node.RequestedMilliCpu + pod.MilliCpu > node.AllocatableMilliCpu)
        {
            return Status.Unschedulable("Insufficient cpu");
        }
        if (pod.Memory > 0 && node.RequestedMemory + pod.Memory > node.AllocatableMemory)
        {
            return Status.Unschedulable("Insufficient memory");
        }
        if (pod.EphemeralStorage > 0 && node.RequestedEphemeralStorage + pod.EphemeralStorage > node.AllocatableEphemeralStorage)
        {
            return Status.Unschedulable("Insufficient ephemeral-storage");
        }
        return Status.Success;
    }

    public long Score(CycleState state, PodInfo pod, NodeInfo node)
    {
        var cpu = Free(node.AllocatableMilliCpu, node.NonZeroMilliCpu + NonZeroCpu(pod));
        var memory = Free(node.AllocatableMemory, node.NonZeroMemory + NonZeroMemory(pod));
        return (cpu + memory) / 2;
    }

    private static long Free(long capacity, long requested) =>
        capacity == 0 || requested > capacity ? 0 : (capacity - requested) * IScorePlugin.MaxNodeScore / capacity;

    /// <summary>For scoring, upstream counts pods without requests as 100m cpu and 200 MiB memory, so that they spread.</summary>
    internal static long NonZeroCpu(PodInfo pod) => pod.MilliCpu == 0 ? 100 : pod.MilliCpu;

    internal static long NonZeroMemory(PodInfo pod) => pod.Memory == 0 ? 200L * 1024 * 1024 : pod.Memory;
}
