using System.Text.RegularExpressions;

namespace Tugboat.E2E.Tests;

/// <summary>Deployments roll out through ReplicaSets, with kubectl's rollout commands.</summary>
public sealed class DeploymentControllerTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    [Fact]
    public async Task RolloutUpdateHistoryAndUndo()
    {
        var k = new Kubectl(Kubectl.V132, fixture.Server.Kubeconfig);
        const string ns = "deploy";
        (await k.RunAsync("create", "namespace", ns)).Ok();
        (await k.RunAsync("create", "deployment", "web", "-n", ns, "--image=nginx:1.25", "--replicas=4")).Ok();
        var first = await WaitAsync(k, ns, @"web-(\w+)\s+4\s+4\s+0");
        var firstHash = first.Groups[1].Value;
        Assert.Equal(firstHash, (await k.RunAsync("get", "rs", "web-" + firstHash, "-n", ns, "-o", "jsonpath={.spec.selector.matchLabels.pod-template-hash}")).Ok().Out);
        Assert.Equal("web", (await k.RunAsync("get", "rs", "web-" + firstHash, "-n", ns, "-o", "jsonpath={.metadata.ownerReferences[0].name}")).Ok().Out);
        Assert.Equal(4, Regex.Matches((await k.RunAsync("get", "pods", "-n", ns, "-l", "pod-template-hash=" + firstHash)).Ok().Out, "Pending").Count);

        // A new template makes a new ReplicaSet; with pods that never become ready (no node agent), the rollout stops
        // where upstream's does: one surge pod and one unavailable pod allowed, so 3 old and 2 new.
        (await k.RunAsync("set", "image", "deploy/web", "-n", ns, "nginx=nginx:1.26")).Ok();
        await WaitAsync(k, ns, $@"web-{firstHash}\s+3\s+3");
        var second = await WaitAsync(k, ns, $@"web-(?!{firstHash})(\w+)\s+2\s+2");
        var deploy = (await k.RunAsync("get", "deploy", "web", "-n", ns)).Ok().Out;
        Assert.Matches(@"web\s+0/4\s+2\s+0", deploy);
        var history = (await k.RunAsync("rollout", "history", "deploy/web", "-n", ns)).Ok().Out;
        Assert.Matches(@"1\s+<none>\s*\n2\s+<none>", history);

        Assert.Contains("rolled back", (await k.RunAsync("rollout", "undo", "deploy/web", "-n", ns)).Ok().Out);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        string revision;
        do
        {
            revision = (await k.RunAsync("get", "rs", "web-" + firstHash, "-n", ns, "-o", "jsonpath={.metadata.annotations.deployment\\.kubernetes\\.io/revision}")).Ok().Out;
            await Task.Delay(200);
        }
        while (revision != "3" && DateTime.UtcNow < deadline);
        Assert.Equal("3", revision);
        // The revision the set had before the rollback is kept, as upstream keeps it.
        Assert.Equal("1", (await k.RunAsync("get", "rs", "web-" + firstHash, "-n", ns, "-o", "jsonpath={.metadata.annotations.deployment\\.kubernetes\\.io/revision-history}")).Ok().Out);
        Assert.Equal("nginx:1.25", (await k.RunAsync("get", "deploy", "web", "-n", ns, "-o", "jsonpath={.spec.template.spec.containers[0].image}")).Ok().Out);
        Assert.NotEmpty(second.Groups[1].Value);
    }

    private static async Task<Match> WaitAsync(Kubectl k, string ns, string pattern)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        var output = string.Empty;
        while (DateTime.UtcNow < deadline)
        {
            output = (await k.RunAsync("get", "rs", "-n", ns)).Ok().Out;
            var m = Regex.Match(output, pattern);
            if (m.Success)
            {
                return m;
            }
            await Task.Delay(200);
        }
        Assert.Fail($"no ReplicaSet matched {pattern}:\n{output}");
        return Match.Empty;
    }
}
