using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Tugboat.E2E.Tests;

/// <summary>A node that stops heartbeating: NotReady, tainted, its pods evicted and recreated on the living nodes.</summary>
public sealed class NodeLifecycleTests : IAsyncLifetime
{
    // Upstream's timings shortened through the server's flags: 40 s grace and 300 s tolerations by default.
    private readonly TugServer _server = new(null, null, false, "--node-monitor-grace-period", "4s", "--default-unreachable-toleration-seconds", "2", "--default-not-ready-toleration-seconds", "2");
    private HollowAgent _living = null!;
    private HollowAgent _dying = null!;

    public async Task InitializeAsync()
    {
        await _server.StartAsync();
        // Leases of 2 s are renewed every half second, well inside the 4 s grace period.
        _living = new HollowAgent(_server, 2, "live", leaseSeconds: 2);
        _dying = new HollowAgent(_server, 1, "doomed", leaseSeconds: 2);
        await _living.StartAsync();
        await _dying.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _living.DisposeAsync();
        await _dying.DisposeAsync();
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task PodsOfADeadNodeAreEvictedAndRescheduled()
    {
        var k = new Kubectl(Kubectl.V132, _server.Kubeconfig);
        (await k.RunAsync("create", "deployment", "spread", "--image=nginx", "--replicas=6")).Ok();
        (await k.RunAsync("rollout", "status", "deploy/spread", "--timeout=60s")).Ok();
        var onDoomed = (await PodsAsync()).Where(p => p["spec"]!["nodeName"]!.GetValue<string>() == "doomed-0").Select(Name).ToList();
        Assert.NotEmpty(onDoomed);

        await _dying.KillAsync();
        await WaitAsync(async () => (await k.RunAsync("get", "node", "doomed-0")).Out.Contains("NotReady", StringComparison.Ordinal), "node NotReady");
        var node = JsonNode.Parse((await k.RunAsync("get", "node", "doomed-0", "-o", "json")).Ok().Out)!;
        var ready = node["status"]!["conditions"]!.AsArray().Single(c => c!["type"]!.GetValue<string>() == "Ready")!;
        Assert.Equal(("Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status."), (ready["status"]!.GetValue<string>(), ready["reason"]!.GetValue<string>(), ready["message"]!.GetValue<string>()));
        var taints = node["spec"]!["taints"]!.AsArray().Select(t => t!["key"]!.GetValue<string>() + ":" + t["effect"]!.GetValue<string>()).ToList();
        Assert.Contains("node.kubernetes.io/unreachable:NoExecute", taints);
        Assert.Contains("node.kubernetes.io/unreachable:NoSchedule", taints);

        // After their 2 s toleration the pods are evicted; the ReplicaSet replaces them on the living nodes.
        await WaitAsync(async () =>
        {
            var pods = await PodsAsync();
            var live = pods.Where(p => p["metadata"]!["deletionTimestamp"] is null).ToList();
            return onDoomed.All(n => pods.Any(p => Name(p) == n && p["metadata"]!["deletionTimestamp"] is not null) || pods.All(p => Name(p) != n))
                && live.Count == 6 && live.All(p => p["spec"]?["nodeName"]?.GetValue<string>()?.StartsWith("live-", StringComparison.Ordinal) == true);
        }, "pods evicted and recreated on living nodes");
        (await k.RunAsync("rollout", "status", "deploy/spread", "--timeout=60s")).Ok();
        Assert.Matches(@"(?m)^doomed-0\s+NotReady\s", (await k.RunAsync("get", "nodes")).Ok().Out);

        // The node controller's events, in upstream's words: on the node, and on the pods it marked and evicted.
        var nodeEvents = (await k.RunAsync("get", "events", "--field-selector", "involvedObject.kind=Node,involvedObject.name=doomed-0", "-o", "jsonpath={range .items[*]}{.reason}: {.message}{\"\\n\"}{end}")).Ok().Out;
        Assert.Contains("RegisteredNode: Node doomed-0 event: Registered Node doomed-0 in Controller", nodeEvents, StringComparison.Ordinal);
        Assert.Contains("NodeNotReady: Node doomed-0 status is now: NodeNotReady", nodeEvents, StringComparison.Ordinal);
        var podEvents = (await k.RunAsync("get", "events", "--field-selector", $"involvedObject.name={onDoomed[0]}", "-o", "jsonpath={range .items[*]}{.reason}: {.message}{\"\\n\"}{end}")).Ok().Out;
        Assert.Contains("NodeNotReady: Node is not ready", podEvents, StringComparison.Ordinal);
        Assert.Contains($"TaintManagerEviction: Marking for deletion Pod default/{onDoomed[0]}", podEvents, StringComparison.Ordinal);

        // Pods of a node that is deleted go too.
        (await k.RunAsync("delete", "node", "doomed-0")).Ok();
        await WaitAsync(async () => (await PodsAsync()).All(p => p["spec"]!["nodeName"]!.GetValue<string>() != "doomed-0"), "orphaned pods removed");
    }

    private static string Name(JsonObject pod) => pod["metadata"]!["name"]!.GetValue<string>();

    private Task<List<JsonObject>> PodsAsync() => _server.PodsAsync("default", "app=spread");

    private static async Task WaitAsync(Func<Task<bool>> condition, string what)
    {
        for (var i = 0; i < 600; i++)
        {
            if (await condition())
            {
                return;
            }
            await Task.Delay(100);
        }
        throw new TimeoutException($"{what}: not reached within 60 s");
    }
}
