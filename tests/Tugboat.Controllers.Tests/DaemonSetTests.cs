using System.Text.Json.Nodes;
using Tugboat.Controllers.DaemonSet;
using static Tugboat.Controllers.Tests.Fakes.Objects;

namespace Tugboat.Controllers.Tests;

public sealed class DaemonSetTests
{
    public static TheoryData<string, string, bool, bool> Cases => new()
    {
        // template spec, node, new pod, should run
        { "{}", """{"metadata":{"name":"n","labels":{"a":"b"}}}""", true, true },
        { """{"nodeSelector":{"a":"b"}}""", """{"metadata":{"name":"n","labels":{"a":"b"}}}""", true, true },
        { """{"nodeSelector":{"a":"c"}}""", """{"metadata":{"name":"n","labels":{"a":"b"}}}""", true, false },
        { "{}", """{"metadata":{"name":"n"},"spec":{"taints":[{"key":"k","effect":"NoSchedule"}]}}""", true, false },
        // A running pod is not evicted by a NoSchedule taint, only by NoExecute.
        { "{}", """{"metadata":{"name":"n"},"spec":{"taints":[{"key":"k","effect":"NoSchedule"}]}}""", false, true },
        { "{}", """{"metadata":{"name":"n"},"spec":{"taints":[{"key":"k","effect":"NoExecute"}]}}""", false, false },
        { """{"tolerations":[{"key":"k","operator":"Exists"}]}""", """{"metadata":{"name":"n"},"spec":{"taints":[{"key":"k","effect":"NoExecute"}]}}""", true, true },
        // Daemon pods tolerate cordoned, unreachable and not-ready nodes.
        { "{}", """{"metadata":{"name":"n"},"spec":{"unschedulable":true,"taints":[{"key":"node.kubernetes.io/unschedulable","effect":"NoSchedule"},{"key":"node.kubernetes.io/unreachable","effect":"NoExecute"}]}}""", true, true },
        { """{"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"a","operator":"In","values":["x"]}]}]}}}}""", """{"metadata":{"name":"n","labels":{"a":"b"}}}""", true, false },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void EligibleNodesFollowSelectorsAffinityAndTaints(string spec, string node, bool newPod, bool expected) =>
        Assert.Equal(expected, DaemonSetController.ShouldRun(O("{\"spec\":" + spec + "}"), O(node), newPod));
}
