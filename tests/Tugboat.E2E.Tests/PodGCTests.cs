using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Tugboat.E2E.Tests;

/// <summary>The pod garbage collector keeps at most --terminated-pod-gc-threshold finished pods, deleting the oldest.</summary>
public sealed class PodGCTests : IAsyncLifetime
{
    private readonly TugServer _server = new(null, null, false, "--terminated-pod-gc-threshold", "2");
    private HollowAgent _node = null!;

    public async Task InitializeAsync()
    {
        await _server.StartAsync();
        _node = new HollowAgent(_server, 1, "gc");
        await _node.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _node.DisposeAsync();
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task TheOldestFinishedPodsGoBeyondTheThreshold()
    {
        var k = new Kubectl(Kubectl.V132, _server.Kubeconfig);
        for (var i = 0; i < 4; i++)
        {
            // One at a time, so that creation order is the age order the collector sorts by (second resolution).
            (await k.RunWithInputAsync($"apiVersion: v1\nkind: Pod\nmetadata:\n  name: done-{i}\n  annotations: {{hollow.tugboat.dev/run-seconds: \"0\"}}\nspec:\n  restartPolicy: Never\n  containers: [{{name: c, image: busybox}}]\n", "apply", "-f", "-")).Ok();
            await Task.Delay(1100);
        }
        (await k.RunWithInputAsync("apiVersion: v1\nkind: Pod\nmetadata: {name: running}\nspec:\n  containers: [{name: c, image: busybox}]\n", "apply", "-f", "-")).Ok();
        using var client = _server.AdminClient();
        List<string> names = [];
        for (var attempt = 0; attempt < 300; attempt++)
        {
            var list = await client.GetFromJsonAsync<JsonObject>("/api/v1/namespaces/default/pods");
            names = list!["items"]!.AsArray().Select(p => p!["metadata"]!["name"]!.GetValue<string>()).Order(StringComparer.Ordinal).ToList();
            if (names.SequenceEqual(["done-2", "done-3", "running"]))
            {
                break;
            }
            await Task.Delay(100);
        }
        Assert.Equal(["done-2", "done-3", "running"], names);
    }
}
