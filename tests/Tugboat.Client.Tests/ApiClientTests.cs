using System.Text.Json.Nodes;

namespace Tugboat.Client.Tests;

public sealed class ApiClientTests(InProcessServer server) : IClassFixture<InProcessServer>
{
    private static JsonObject ConfigMap(string name, string value, string app) =>
        new() { ["apiVersion"] = "v1", ["kind"] = "ConfigMap", ["metadata"] = new JsonObject { ["name"] = name, ["labels"] = new JsonObject { ["app"] = app } }, ["data"] = new JsonObject { ["k"] = value } };

    /// <summary>Waits (up to 10 s) until <paramref name="seen"/> holds <paramref name="count"/> entries, then stops the informer.</summary>
    private static async Task StopAfterAsync<T>(IReadOnlyCollection<T> seen, int count, CancellationTokenSource cts, Task run)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (seen.Count < count && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }
        await cts.CancelAsync();
        await run;
    }

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
        await StopAfterAsync(events, 4, cts, run);
        Assert.Equal(["added before", "added during", "updated during 2", "deleted before"], events.ToArray());
        Assert.Null(informer.Get("default/before"));
        Assert.Equal("2", informer.Get("default/during")!["data"]!["k"]!.GetValue<string>());
        await client.DeleteAsync(path + "/during");
    }

    [Fact]
    public async Task WritesThatIgnoreTheResultStillReportFailuresAndLeaveTheConnectionUsable()
    {
        var client = server.Client;
        const string path = "/api/v1/namespaces/default/configmaps";
        await client.CreateIgnoringResultAsync(path, ConfigMap("quiet", "1", "quiet"));
        var exists = await Assert.ThrowsAsync<ApiError>(() => client.CreateIgnoringResultAsync(path, ConfigMap("quiet", "1", "quiet")));
        Assert.True(exists.IsAlreadyExists);
        await client.MergePatchIgnoringResultAsync(path + "/quiet", new JsonObject { ["data"] = new JsonObject { ["k"] = "2" } });
        Assert.Equal("2", (await client.GetAsync(path + "/quiet"))["data"]!["k"]!.GetValue<string>());
        var invalid = await Assert.ThrowsAsync<ApiError>(() => client.MergePatchIgnoringResultAsync(path + "/quiet", new JsonObject { ["metadata"] = new JsonObject { ["name"] = "other" } }));
        Assert.Equal(400, invalid.Code);
        await client.DeleteIgnoringResultAsync(path + "/quiet");
        Assert.True((await Assert.ThrowsAsync<ApiError>(() => client.DeleteIgnoringResultAsync(path + "/quiet"))).IsNotFound);
        Assert.True((await Assert.ThrowsAsync<ApiError>(() => client.GetAsync(path + "/quiet"))).IsNotFound);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task HandlersGetTheKeysOfWhatTheyAreGiven(bool stripManagedFields)
    {
        var client = server.Client;
        var ns = stripManagedFields ? "default" : "kube-public";
        var path = $"/api/v1/namespaces/{ns}/configmaps";
        await client.CreateAsync(path, ConfigMap("keyed-before", "1", "keyed"));
        var informer = new Informer(client, "/api/v1/configmaps", "app=keyed") { StripManagedFields = stripManagedFields };
        var seen = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var stranger = ConfigMap("stranger", "1", "keyed");
        stranger["metadata"]!["namespace"] = "elsewhere";
        informer.Added += o => seen.Enqueue($"added {Informer.KeyOf(o)} {Informer.KeyOf(stranger)}");
        informer.Updated += (old, o) => seen.Enqueue($"updated {Informer.KeyOf(old)} {Informer.KeyOf(o)}");
        informer.Deleted += o => seen.Enqueue($"deleted {Informer.KeyOf(o)}");
        using var cts = new CancellationTokenSource();
        var run = informer.RunAsync(cts.Token);
        await informer.Synced.WaitAsync(TimeSpan.FromSeconds(10));
        await client.CreateAsync(path, ConfigMap("keyed-during", "1", "keyed"));
        await client.MergePatchAsync(path + "/keyed-during", new JsonObject { ["data"] = new JsonObject { ["k"] = "2" } });
        await client.DeleteAsync(path + "/keyed-before");
        await StopAfterAsync(seen, 4, cts, run);
        Assert.Equal([$"added {ns}/keyed-before elsewhere/stranger", $"added {ns}/keyed-during elsewhere/stranger", $"updated {ns}/keyed-during {ns}/keyed-during", $"deleted {ns}/keyed-before"], seen.ToArray());
        // Outside a handler the key is read from the object itself.
        Assert.Equal($"{ns}/keyed-during", Informer.KeyOf(informer.Get($"{ns}/keyed-during")!));
        await client.DeleteAsync(path + "/keyed-during");
    }
}
