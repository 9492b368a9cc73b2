using Tugboat.Scheduler.Framework;

namespace Tugboat.Scheduler.Plugins.NodePorts;

/// <summary>A pod's host ports must be free on the node (same protocol and port, with 0.0.0.0 conflicting with every address).</summary>
public sealed class NodePorts : IPreFilterPlugin, IFilterPlugin
{
    public const string Reason = "node(s) didn't have free ports for the requested pod ports";

    public string Name => nameof(NodePorts);

    public Status PreFilter(CycleState state, PodInfo pod, IReadOnlyList<NodeInfo> nodes) =>
        pod.HostPorts.Count > 0 ? Status.Success : Status.Skip;

    public Status Filter(CycleState state, PodInfo pod, NodeInfo node)
    {
        foreach (var (ip, protocol, port) in pod.HostPorts)
        {
            foreach (var (usedIp, usedProtocol, usedPort) in node.UsedPorts)
            {
                if (usedPort == port && usedProtocol == protocol && (ip == usedIp || ip == "0.0.0.0" || usedIp == "0.0.0.0"))
                {
                    return Status.Unschedulable(Reason);
                }
            }
        }
        return Status.Success;
    }
}
