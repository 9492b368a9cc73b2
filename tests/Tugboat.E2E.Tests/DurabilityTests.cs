using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace Tugboat.E2E.Tests;

/// <summary>Nothing acknowledged is lost: across a clean restart, and across SIGKILL during a storm of creates.</summary>
public sealed class DurabilityTests
{
    [Fact]
    public async Task RestartKeepsEveryObjectAndRevision()
    {
        await using var server = new TugServer();
        await server.StartAsync();
        var k = new Kubectl(Kubectl.V132, server.Kubeconfig);
        (await k.RunAsync("create", "cm", "keep", "--from-literal=a=b")).Ok();
        var rv = (await k.RunAsync("get", "cm", "keep", "-o", "jsonpath={.metadata.resourceVersion}")).Ok().Out;
        await server.StopAsync();
        await server.StartAsync();
        Assert.Equal(rv, (await k.RunAsync("get", "cm", "keep", "-o", "jsonpath={.metadata.resourceVersion}")).Ok().Out);
        (await k.RunAsync("create", "cm", "after")).Ok();
        var next = long.Parse((await k.RunAsync("get", "cm", "after", "-o", "jsonpath={.metadata.resourceVersion}")).Ok().Out);
        Assert.True(next > long.Parse(rv));
    }

    [Fact]
    public async Task SigkillDuringACreateStormLosesNothingAcknowledged()
    {
        await using var server = new TugServer();
        await server.StartAsync();
        var acknowledged = new ConcurrentDictionary<string, string>();
        using var stop = new CancellationTokenSource();
        var workers = Enumerable.Range(0, 16).Select(w => Task.Run(async () =>
        {
            using var client = server.AdminClient();
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                var name = $"s-{w}-{i}";
                var payload = $"{{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{{\"name\":\"{name}\"}},\"data\":{{\"v\":\"{name}\"}}}}";
                try
                {
                    using var r = await client.PostAsync("/api/v1/namespaces/default/configmaps", new StringContent(payload, Encoding.UTF8, "application/json"));
                    if (r.StatusCode == HttpStatusCode.Created)
                    {
                        acknowledged[name] = name;
                    }
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
                {
                    return;
                }
            }
        })).ToArray();
        var sw = Stopwatch.StartNew();
        while (acknowledged.Count < 500 && sw.Elapsed < TimeSpan.FromSeconds(60))
        {
            await Task.Delay(20);
        }
        await server.StopAsync(kill: true);
        stop.Cancel();
        await Task.WhenAll(workers);
        Assert.True(acknowledged.Count >= 500, $"only {acknowledged.Count} creates were acknowledged");

        await server.StartAsync();
        using var client = server.AdminClient();
        var list = JsonNode.Parse(await client.GetStringAsync("/api/v1/namespaces/default/configmaps"))!;
        var stored = new Dictionary<string, string>();
        foreach (var item in list["items"]!.AsArray())
        {
            var name = item!["metadata"]!["name"]!.GetValue<string>();
            if (name.StartsWith("s-", StringComparison.Ordinal))
            {
                // No half-written object: every stored one is complete.
                stored[name] = item["data"]!["v"]!.GetValue<string>();
                Assert.Equal(name, stored[name]);
            }
        }
        var lost = acknowledged.Keys.Where(n => !stored.ContainsKey(n)).ToList();
        Assert.True(lost.Count == 0, $"{lost.Count} acknowledged objects were lost, e.g. {string.Join(", ", lost.Take(5))}");
    }
}
