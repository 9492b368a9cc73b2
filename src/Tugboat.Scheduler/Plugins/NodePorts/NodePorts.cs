using Tugboat.Scheduler.Framework;

namespace Tugboat.Scheduler.Plugins.NodePorts;

/// <summary>A pod's host ports must be free on the node (same protocol and port, with 0.0.0.0 conflicting with every address).</summary>
public sealed class NodePorts : IFilterPlugin
{
    public const string Reason = "node(s) didn't have free ports for the requested pod ports";

    public string Name => nameof(NodePorts);

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
