using System.Text.Json.Nodes;

namespace Tugboat.E2E.Tests;

/// <summary>The embedded controller manager keeps ReplicaSets at their replica count, with kubectl driving.</summary>
public sealed class ReplicaSetControllerTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private const string ReplicaSet = """
        apiVersion: apps/v1
        kind: ReplicaSet
        metadata: {name: web}
        spec:
          replicas: 3
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec: {containers: [{name: c, image: nginx}]}
        """;

    [Fact]
    public async Task CreatesReplacesScalesAndAdoptsPods()
    {
        var k = new Kubectl(Kubectl.V132, fixture.Server.Kubeconfig);
        const string ns = "rs";
        (await k.RunAsync("create", "namespace", ns)).Ok();
        (await k.RunWithInputAsync(ReplicaSet, "apply", "-n", ns, "-f", "-")).Ok();
        var pods = await WaitForPodsAsync(k, ns, 3);
        var uid = (await k.RunAsync("get", "rs", "web", "-n", ns, "-o", "jsonpath={.metadata.uid}")).Ok().Out;
        Assert.All(pods, p =>
        {
            var owner = p["metadata"]!["ownerReferences"]![0]!;
            Assert.Equal(("ReplicaSet", "web", uid, true), (owner["kind"]!.GetValue<string>(), owner["name"]!.GetValue<string>(), owner["uid"]!.GetValue<string>(), owner["controller"]!.GetValue<bool>()));
            Assert.StartsWith("web-", p["metadata"]!["name"]!.GetValue<string>());
        });
        Assert.Matches(@"web\s+3\s+3\s+0", await WaitForAsync(k, ns, "rs", @"web\s+3\s+3"));

        // Self-healing: a deleted pod is replaced.
        var victim = pods[0]["metadata"]!["name"]!.GetValue<string>();
        (await k.RunAsync("delete", "pod", victim, "-n", ns)).Ok();
        var after = await WaitForPodsAsync(k, ns, 3);
        Assert.DoesNotContain(after, p => p["metadata"]!["name"]!.GetValue<string>() == victim);

        (await k.RunAsync("scale", "rs", "web", "-n", ns, "--replicas=2")).Ok();
        await WaitForPodsAsync(k, ns, 2);

        // A matching orphan is adopted; the set then trims itself back to two pods, all its own.
        (await k.RunWithInputAsync("apiVersion: v1\nkind: Pod\nmetadata: {name: orphan, labels: {app: web}}\nspec: {containers: [{name: c, image: nginx}]}\n", "create", "-n", ns, "-f", "-")).Ok();
        var settled = await WaitForPodsAsync(k, ns, 2, requireOwned: uid);
        Assert.Equal(2, settled.Count);
    }

    private static async Task<List<JsonNode>> WaitForPodsAsync(Kubectl k, string ns, int count, string? requireOwned = null)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        List<JsonNode> pods = [];
        while (DateTime.UtcNow < deadline)
        {
            var list = JsonNode.Parse((await k.RunAsync("get", "pods", "-n", ns, "-l", "app=web", "-o", "json")).Ok().Out)!;
            pods = list["items"]!.AsArray().Where(p => p!["metadata"]!["deletionTimestamp"] is null).Select(p => p!).ToList();
            var owned = requireOwned is null || pods.All(p => p["metadata"]!["ownerReferences"]?[0]?["uid"]?.GetValue<string>() == requireOwned);
            if (pods.Count == count && owned)
            {
                return pods;
            }
            await Task.Delay(200);
        }
        Assert.Fail($"expected {count} pods, found {pods.Count}: {string.Join(", ", pods.Select(p => p["metadata"]!["name"]))}");
        return pods;
    }

    private static async Task<string> WaitForAsync(Kubectl k, string ns, string resource, string pattern)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        var output = string.Empty;
        while (DateTime.UtcNow < deadline)
        {
            output = (await k.RunAsync("get", resource, "-n", ns)).Ok().Out;
            if (System.Text.RegularExpressions.Regex.IsMatch(output, pattern))
            {
                return output;
            }
            await Task.Delay(200);
        }
        return output;
    }
}
