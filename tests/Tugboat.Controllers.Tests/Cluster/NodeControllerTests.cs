using System.Globalization;
using System.Text.Json.Nodes;
using Tugboat.Controllers.Tests.Fakes;
using static Tugboat.Controllers.Tests.Fakes.Objects;

namespace Tugboat.Controllers.Tests.Cluster;

/// <summary>The node lifecycle, disruption and service load balancer controllers against the fake API.</summary>
public sealed class NodeControllerTests
{
    private static string Now() => DateTime.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture);

    private static JsonObject Node(string name, string ip, bool ready = true)
    {
        var node = O("""{"apiVersion":"v1","kind":"Node","metadata":{},"spec":{},"status":{"conditions":[{"type":"Ready"}],"addresses":[{"type":"InternalIP"}]}}""");
        node["metadata"]!["name"] = name;
        node["status"]!["addresses"]![0]!["address"] = ip;
        node["status"]!["conditions"]![0]!["status"] = ready ? "True" : "False";
        node["status"]!["conditions"]![0]!["lastHeartbeatTime"] = Now();
        return node;
    }

    private static JsonObject RunningPod(string name, string node, string? tolerations = null)
    {
        var pod = O("""{"apiVersion":"v1","kind":"Pod","metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"x"}]},"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}}""");
        pod["metadata"]!["name"] = name;
        pod["spec"]!["nodeName"] = node;
        if (tolerations is not null)
        {
            pod["spec"]!["tolerations"] = JsonNode.Parse(tolerations);
        }
        return pod;
    }

    [Fact]
    public async Task SilentNodesGoUnknownAreTaintedAndHaveTheirPodsEvictedAsTheyTolerate()
    {
        await using var h = new Harness();
        h.Api.Seed("/api/v1/nodes", Node("n1", "10.0.0.1"));
        h.Api.Seed("/api/v1/namespaces/ns/pods", RunningPod("intolerant", "n1"));
        h.Api.Seed("/api/v1/namespaces/ns/pods", RunningPod("patient", "n1", """[{"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute","tolerationSeconds":2}]"""));
        h.Api.Seed("/api/v1/namespaces/ns/pods", RunningPod("forever", "n1", """[{"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute"}]"""));
        await h.StartAsync(q => new NodeLifecycle.NodeLifecycleController(h.Client, h.Informers, q, TimeSpan.FromSeconds(1)), c => c.Informers);

        // No heartbeat after the first: after the 1 s grace period the node is Unknown and tainted.
        var node = await h.EventuallyAsync("Ready Unknown", () => h.Api.Get("/api/v1/nodes/n1") is { } n
            && n["status"]!["conditions"]!.AsArray().Any(c => c!["type"]!.GetValue<string>() == "Ready" && c["status"]!.GetValue<string>() == "Unknown") ? n : null);
        var readyCondition = node["status"]!["conditions"]!.AsArray().Single(c => c!["type"]!.GetValue<string>() == "Ready")!;
        Assert.Equal(("NodeStatusUnknown", "Kubelet stopped posting node status."), (readyCondition["reason"]!.GetValue<string>(), readyCondition["message"]!.GetValue<string>()));
        node = await h.EventuallyAsync("taints", () => h.Api.Get("/api/v1/nodes/n1") is { } n && n["spec"]?["taints"]?.AsArray().Count == 2 ? n : null);
        Assert.Equal(["NoExecute", "NoSchedule"], node["spec"]!["taints"]!.AsArray().Where(t => t!["key"]!.GetValue<string>() == "node.kubernetes.io/unreachable").Select(t => t!["effect"]!.GetValue<string>()).Order(StringComparer.Ordinal));

        await h.EventuallyAsync("intolerant evicted at once", () => h.Api.Get("/api/v1/namespaces/ns/pods/intolerant") is null ? "" : null);
        var patient = h.Api.Get("/api/v1/namespaces/ns/pods/patient");
        Assert.NotNull(patient);
        Assert.Equal("False", patient["status"]!["conditions"]!.AsArray().Single(c => c!["type"]!.GetValue<string>() == "Ready")!["status"]!.GetValue<string>());
        await h.EventuallyAsync("patient evicted after 2 s", () => h.Api.Get("/api/v1/namespaces/ns/pods/patient") is null ? "" : null);
        await h.SettleAsync();
        Assert.NotNull(h.Api.Get("/api/v1/namespaces/ns/pods/forever"));

        // The kubelet posts status again: the taints come off.
        h.Api.Modify("/api/v1/nodes/n1", n => n["status"] = Node("n1", "10.0.0.1")["status"]!.DeepClone());
        await h.EventuallyAsync("taints removed", () => h.Api.Get("/api/v1/nodes/n1")?["spec"]?["taints"]?.AsArray() is not { Count: > 0 } ? "" : null);
    }

    [Fact]
    public async Task APodBoundLaterToANodeWithNoExecuteTaintsIsEvictedWithinAMonitorPeriod()
    {
        await using var h = new Harness();
        // The kubelet reports NotReady but keeps in touch: a long grace period (monitor period 5 s) that the node is
        // far from, so only the NoExecute taint keeps the node looked at.
        h.Api.Seed("/api/v1/nodes", Node("n1", "10.0.0.1", ready: false));
        await h.StartAsync(q => new NodeLifecycle.NodeLifecycleController(h.Client, h.Informers, q, TimeSpan.FromSeconds(60)), c => c.Informers);
        await h.EventuallyAsync("not-ready taints", () => h.Api.Get("/api/v1/nodes/n1")?["spec"]?["taints"]?.AsArray() is { Count: 2 } taints
            && taints.All(t => t!["key"]!.GetValue<string>() == "node.kubernetes.io/not-ready") ? "" : null);
        // Once the controller is done with the node's own update, nothing but its monitoring looks at it again.
        await h.SettleAsync();
        h.Api.Seed("/api/v1/namespaces/ns/pods", RunningPod("late", "n1"));
        await h.EventuallyAsync("late evicted", () => h.Api.Get("/api/v1/namespaces/ns/pods/late") is null ? "" : null, TimeSpan.FromSeconds(15));
    }

    [Fact]
    public async Task PodsOfNodesThatDoNotExistAreDeletedAfterTheQuarantine()
    {
        await using var h = new Harness();
        h.Api.Seed("/api/v1/nodes", Node("n1", "10.0.0.1"));
        h.Api.Seed("/api/v1/namespaces/ns/pods", RunningPod("lost", "gone"));
        // n1 sends no more heartbeats either, so this pod tolerates its unreachable taint for good.
        h.Api.Seed("/api/v1/namespaces/ns/pods", RunningPod("kept", "n1", """[{"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute"}]"""));
        await h.StartAsync(q => new NodeLifecycle.NodeLifecycleController(h.Client, h.Informers, q, TimeSpan.FromSeconds(1)), c => c.Informers);
        await h.EventuallyAsync("lost deleted", () => h.Api.Get("/api/v1/namespaces/ns/pods/lost") is null ? "" : null);
        await h.SettleAsync();
        Assert.NotNull(h.Api.Get("/api/v1/namespaces/ns/pods/kept"));
    }

    [Fact]
    public async Task DisruptionBudgetStatusCountsHealthyAgainstTheControllersScale()
    {
        await using var h = new Harness();
        var set = h.Api.Seed("/apis/apps/v1/namespaces/ns/replicasets", O("""{"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"web"},"spec":{"replicas":3,"selector":{"matchLabels":{"app":"web"}}}}"""));
        for (var i = 0; i < 3; i++)
        {
            var pod = RunningPod($"web-{i}", "n1");
            pod["metadata"]!["ownerReferences"] = new JsonArray(new JsonObject { ["apiVersion"] = "apps/v1", ["kind"] = "ReplicaSet", ["name"] = "web", ["uid"] = set["metadata"]!["uid"]!.DeepClone(), ["controller"] = true });
            h.Api.Seed("/api/v1/namespaces/ns/pods", pod);
        }
        await h.StartAsync(q => new Disruption.DisruptionController(h.Client, h.Informers, q), c => c.Informers);
        h.Api.Seed("/apis/policy/v1/namespaces/ns/poddisruptionbudgets", O("""{"apiVersion":"policy/v1","kind":"PodDisruptionBudget","metadata":{"name":"pdb"},"spec":{"maxUnavailable":1,"selector":{"matchLabels":{"app":"web"}}}}"""));
        var status = await h.EventuallyAsync("status", () => h.Api.Get("/apis/policy/v1/namespaces/ns/poddisruptionbudgets/pdb")?["status"] is JsonObject s && s["expectedPods"] is not null ? s : null);
        Assert.Equal((3, 3, 2, 1), (status["expectedPods"]!.GetValue<int>(), status["currentHealthy"]!.GetValue<int>(), status["desiredHealthy"]!.GetValue<int>(), status["disruptionsAllowed"]!.GetValue<int>()));
        Assert.Contains(status["conditions"]!.AsArray(), c => c!["type"]!.GetValue<string>() == "DisruptionAllowed" && c["status"]!.GetValue<string>() == "True");

        // One pod unready: nothing more may be disrupted.
        h.Api.Modify("/api/v1/namespaces/ns/pods/web-0", p => p["status"]!["conditions"]![0]!["status"] = "False");
        status = await h.EventuallyAsync("no disruption allowed", () => h.Api.Get("/apis/policy/v1/namespaces/ns/poddisruptionbudgets/pdb")?["status"] is JsonObject s && s["currentHealthy"]!.GetValue<int>() == 2 ? s : null);
        Assert.Equal(0, status["disruptionsAllowed"]!.GetValue<int>());
        Assert.Contains(status["conditions"]!.AsArray(), c => c!["type"]!.GetValue<string>() == "DisruptionAllowed" && c["status"]!.GetValue<string>() == "False" && c["reason"]!.GetValue<string>() == "InsufficientPods");
    }

    [Fact]
    public async Task LoadBalancerServicesGetTheReadySchedulableNodesAddresses()
    {
        await using var h = new Harness();
        h.Api.Seed("/api/v1/nodes", Node("n1", "10.0.0.1"));
        h.Api.Seed("/api/v1/nodes", Node("n2", "10.0.0.2", ready: false));
        var cordoned = Node("n3", "10.0.0.3");
        cordoned["spec"]!["unschedulable"] = true;
        h.Api.Seed("/api/v1/nodes", cordoned);
        await h.StartAsync(q => new ServiceLoadBalancer.ServiceLoadBalancerController(h.Client, h.Informers, q), c => c.Informers);
        h.Api.Seed("/api/v1/namespaces/ns/services", O("""{"apiVersion":"v1","kind":"Service","metadata":{"name":"lb"},"spec":{"type":"LoadBalancer","ports":[{"port":80}]}}"""));
        h.Api.Seed("/api/v1/namespaces/ns/services", O("""{"apiVersion":"v1","kind":"Service","metadata":{"name":"plain"},"spec":{"type":"ClusterIP","ports":[{"port":80}]}}"""));
        string[] Ingress(string svc) => h.Api.Get($"/api/v1/namespaces/ns/services/{svc}")?["status"]?["loadBalancer"]?["ingress"]?.AsArray().Select(i => i!["ip"]!.GetValue<string>()).ToArray() ?? [];
        await h.EventuallyAsync("ingress", () => Ingress("lb") is { Length: > 0 } a ? a : null);
        Assert.Equal(["10.0.0.1"], Ingress("lb"));
        // A node that becomes ready joins.
        h.Api.Modify("/api/v1/nodes/n2", n => n["status"]!["conditions"]![0]!["status"] = "True");
        await h.EventuallyAsync("n2 joins", () => Ingress("lb").Length == 2 ? "" : null);
        Assert.Equal(["10.0.0.1", "10.0.0.2"], Ingress("lb"));
        await h.SettleAsync();
        Assert.Empty(Ingress("plain"));
    }
}
