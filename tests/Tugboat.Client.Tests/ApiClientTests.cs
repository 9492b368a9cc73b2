using System.Text.Json.Nodes;

namespace Tugboat.Client.Tests;

public sealed class ApiClientTests(InProcessServer server) : IClassFixture<InProcessServer>
{
    private static JsonObject ConfigMap(string name, string value, string app) =>
        new() { ["apiVersion"] = "v1", ["kind"] = "ConfigMap", ["metadata"] = new JsonObject { ["name"] = name, ["labels"] = new JsonObject { ["app"] = app } }, ["data"] = new JsonObject { ["k"] = value } };

    [Fact]
    public async Task CreatesReadsPatchesListsAndDeletesWithUpstreamErrors()
    {
        var client = server.Client;
        const string path = "/api/v1/namespaces/default/configmaps";
        var created = await client.CreateAsync(path, ConfigMap("c1", "v1", "crud"));
        Assert.NotNull(created["metadata"]!["uid"]);
        var exists = await Assert.ThrowsAsync<ApiError>(() => client.CreateAsync(path, ConfigMap("c1", "v1", "crud")));
        Assert.True(exists.IsAlreadyExists);
        var patched = await client.MergePatchAsync(path + "/c1", new JsonObject { ["data"] = new JsonObject { ["k"] = "v2" } });
        Assert.Equal("v2", patched["data"]!["k"]!.GetValue<string>());
        created["data"]!["k"] = "stale";
        Assert.True((await Assert.ThrowsAsync<ApiError>(() => client.UpdateAsync(path + "/c1", created))).IsConflict);
        var (items, rv) = await client.ListAsync(path, "app=crud");
        Assert.Single(items);
        Assert.True(long.Parse(rv) > 0);
        await client.DeleteAsync(path + "/c1");
        Assert.True((await Assert.ThrowsAsync<ApiError>(() => client.GetAsync(path + "/c1"))).IsNotFound);
    }

    [Fact]
    public async Task InformerCachesAndReportsChanges()
    {
        var client = server.Client;
        const string path = "/api/v1/namespaces/default/configmaps";
        await client.CreateAsync(path, ConfigMap("before", "1", "informer"));
        var informer = new Informer(client, path, "app=informer");
        var events = new System.Collections.Concurrent.ConcurrentQueue<string>();
        informer.Added += o => events.Enqueue("added " + o["metadata"]!["name"]);
        informer.Updated += (_, o) => events.Enqueue("updated " + o["metadata"]!["name"] + " " + o["data"]!["k"]);
        informer.Deleted += o => events.Enqueue("deleted " + o["metadata"]!["name"]);
        using var cts = new CancellationTokenSource();
        var run = informer.RunAsync(cts.Token);
        await informer.Synced.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.NotNull(informer.Get("default/before"));

        await client.CreateAsync(path, ConfigMap("during", "1", "informer"));
        await client.MergePatchAsync(path + "/during", new JsonObject { ["data"] = new JsonObject { ["k"] = "2" } });
        await client.DeleteAsync(path + "/before");
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (events.Count < 4 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }
        await cts.CancelAsync();
        await run;
        Assert.Equal(["added before", "added during", "updated during 2", "deleted before"], events.ToArray());
        Assert.Null(informer.Get("default/before"));
        Assert.Equal("2", informer.Get("default/during")!["data"]!["k"]!.GetValue<string>());
        await client.DeleteAsync(path + "/during");
    }
}
