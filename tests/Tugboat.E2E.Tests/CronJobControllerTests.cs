using System.Text.Json.Nodes;

namespace Tugboat.E2E.Tests;

/// <summary>A CronJob starts a Job at its next scheduled minute.</summary>
public sealed class CronJobControllerTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    [Fact]
    public async Task StartsAJobOnSchedule()
    {
        var k = new Kubectl(Kubectl.V132, fixture.Server.Kubeconfig);
        const string ns = "cron";
        (await k.RunAsync("create", "namespace", ns)).Ok();
        Assert.Contains("cronjob.batch/tick created", (await k.RunAsync("create", "cronjob", "tick", "-n", ns, "--image=busybox", "--schedule=* * * * *", "--", "true")).Ok().Out);
        var deadline = DateTime.UtcNow.AddSeconds(90);
        JsonNode? job = null;
        while (DateTime.UtcNow < deadline && job is null)
        {
            job = JsonNode.Parse((await k.RunAsync("get", "jobs", "-n", ns, "-o", "json")).Ok().Out)!["items"]!.AsArray().FirstOrDefault();
            await Task.Delay(500);
        }
        Assert.NotNull(job);
        Assert.Matches(@"^tick-\d+$", job!["metadata"]!["name"]!.GetValue<string>());
        Assert.Equal("CronJob", job["metadata"]!["ownerReferences"]![0]!["kind"]!.GetValue<string>());
        var cron = JsonNode.Parse((await k.RunAsync("get", "cronjob", "tick", "-n", ns, "-o", "json")).Ok().Out)!;
        deadline = DateTime.UtcNow.AddSeconds(10);
        while (cron["status"]?["lastScheduleTime"] is null && DateTime.UtcNow < deadline)
        {
            await Task.Delay(200);
            cron = JsonNode.Parse((await k.RunAsync("get", "cronjob", "tick", "-n", ns, "-o", "json")).Ok().Out)!;
        }
        Assert.NotNull(cron["status"]?["lastScheduleTime"]);
        Assert.Matches(@"tick\s+\* \* \* \* \*\s+<none>\s+False\s+1\s+\d+s", (await k.RunAsync("get", "cronjob", "tick", "-n", ns)).Ok().Out);
    }
}
