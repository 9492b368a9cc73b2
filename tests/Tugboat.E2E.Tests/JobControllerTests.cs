using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Tugboat.E2E.Tests;

/// <summary>Jobs run to completion or failure; pod phases are written through the API as a node agent would.</summary>
public sealed class JobControllerTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private static string Job(string name, string extra) =>
        "apiVersion: batch/v1\nkind: Job\nmetadata: {name: " + name + "}\nspec:\n" + extra + "\n"
        + "  template: {spec: {restartPolicy: Never, containers: [{name: c, image: busybox, command: [\"true\"]}]}}\n";

    [Fact]
    public async Task CompletesFailsAndIndexes()
    {
        var k = new Kubectl(Kubectl.V132, fixture.Server.Kubeconfig);
        const string ns = "jobs";
        (await k.RunAsync("create", "namespace", ns)).Ok();
        using var client = fixture.Server.AdminClient();

        (await k.RunWithInputAsync(Job("two", "  completions: 2\n  parallelism: 1"), "create", "-n", ns, "-f", "-")).Ok();
        for (var i = 0; i < 2; i++)
        {
            var pod = await UntilAsync(() => ActivePodAsync(client, ns, "two"));
            await SetPhaseAsync(client, ns, pod, "Succeeded");
        }
        await UntilAsync(async () => (await k.RunAsync("get", "job", "two", "-n", ns)).Ok().Out.Contains("Complete", StringComparison.Ordinal) ? "done" : null);
        Assert.Matches(@"two\s+Complete\s+2/2", (await k.RunAsync("get", "job", "two", "-n", ns)).Ok().Out);

        (await k.RunWithInputAsync(Job("once", "  backoffLimit: 0"), "create", "-n", ns, "-f", "-")).Ok();
        await SetPhaseAsync(client, ns, await UntilAsync(() => ActivePodAsync(client, ns, "once")), "Failed");
        var reason = await UntilAsync(async () => NullIfEmpty((await k.RunAsync("get", "job", "once", "-n", ns, "-o", "jsonpath={.status.conditions[?(@.type==\"Failed\")].reason}")).Ok().Out));
        Assert.Equal("BackoffLimitExceeded", reason);

        (await k.RunWithInputAsync(Job("idx", "  completions: 3\n  parallelism: 3\n  completionMode: Indexed"), "create", "-n", ns, "-f", "-")).Ok();
        var indexes = await UntilAsync(async () =>
        {
            var list = JsonNode.Parse((await k.RunAsync("get", "pods", "-n", ns, "-l", "batch.kubernetes.io/job-name=idx", "-o", "json")).Ok().Out)!;
            var found = list["items"]!.AsArray().Select(p => p!["metadata"]!["annotations"]!["batch.kubernetes.io/job-completion-index"]!.GetValue<string>()).Order().ToList();
            return found.Count == 3 ? string.Join(",", found) : null;
        });
        Assert.Equal("0,1,2", indexes);
    }

    private static string? NullIfEmpty(string s) => s.Length == 0 ? null : s;

    private static async Task<string?> ActivePodAsync(HttpClient client, string ns, string job)
    {
        var list = JsonNode.Parse(await client.GetStringAsync($"/api/v1/namespaces/{ns}/pods?labelSelector=batch.kubernetes.io%2Fjob-name%3D{job}"))!;
        return list["items"]!.AsArray().FirstOrDefault(p => p!["status"]?["phase"]?.GetValue<string>() == "Pending")?["metadata"]!["name"]!.GetValue<string>();
    }

    private static async Task SetPhaseAsync(HttpClient client, string ns, string pod, string phase)
    {
        // Stands in for a node agent; a merge patch, since the scheduler may write the same status meanwhile.
        var patch = new JsonObject { ["status"] = new JsonObject { ["phase"] = phase } };
        using var response = await client.PatchAsync($"/api/v1/namespaces/{ns}/pods/{pod}/status", new StringContent(patch.ToJsonString(), System.Text.Encoding.UTF8, "application/merge-patch+json"));
        response.EnsureSuccessStatusCode();
    }

    private static async Task<string> UntilAsync(Func<Task<string?>> probe)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            if (await probe() is { } value)
            {
                return value;
            }
            await Task.Delay(200);
        }
        Assert.Fail("condition not met within 30 s");
        return string.Empty;
    }
}
