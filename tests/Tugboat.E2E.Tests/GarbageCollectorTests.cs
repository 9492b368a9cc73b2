namespace Tugboat.E2E.Tests;

/// <summary>Deleting an owner with kubectl's --cascade modes: background, foreground, orphan.</summary>
public sealed class GarbageCollectorTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    [Fact]
    public async Task CascadingDeletionInEveryMode()
    {
        var k = new Kubectl(Kubectl.V132, fixture.Server.Kubeconfig);
        const string ns = "gc";
        (await k.RunAsync("create", "namespace", ns)).Ok();
        foreach (var name in new[] { "bg", "fg", "or" })
        {
            (await k.RunAsync("create", "deployment", name, "-n", ns, "--image=nginx", "--replicas=2")).Ok();
        }
        await UntilAsync(async () => (await k.RunAsync("get", "pods", "-n", ns, "--no-headers")).Ok().Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length == 6);

        (await k.RunAsync("delete", "deploy", "bg", "-n", ns)).Ok();
        (await k.RunAsync("delete", "deploy", "fg", "-n", ns, "--cascade=foreground", "--timeout=60s")).Ok();
        (await k.RunAsync("delete", "deploy", "or", "-n", ns, "--cascade=orphan")).Ok();

        await UntilAsync(async () =>
        {
            var left = (await k.RunAsync("get", "rs,pods", "-n", ns, "-o", "name")).Ok().Out;
            return !left.Contains("bg-", StringComparison.Ordinal) && !left.Contains("fg-", StringComparison.Ordinal);
        });
        var sets = (await k.RunAsync("get", "rs", "-n", ns, "-o", "jsonpath={range .items[*]}{.metadata.name}={.metadata.ownerReferences}{\"\\n\"}{end}")).Ok().Out;
        Assert.Matches(@"^or-\w+=$", sets.Trim());
        Assert.Equal(2, (await k.RunAsync("get", "pods", "-n", ns, "-o", "name")).Ok().Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.Contains("No resources found", (await k.RunAsync("get", "deploy", "-n", ns)).Ok().Err);
    }

    private static async Task UntilAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            if (await condition())
            {
                return;
            }
            await Task.Delay(200);
        }
        Assert.Fail("condition not met within 30 s");
    }
}
