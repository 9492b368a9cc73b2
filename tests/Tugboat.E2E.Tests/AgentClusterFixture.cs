using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Tugboat.E2E.Tests;

/// <summary>A tug server with its embedded node agent running real pods (process runtime, CNI pod network as root).</summary>
public sealed class AgentClusterFixture : IAsyncLifetime
{
    public TugServer Server { get; } = new() { Agent = true };

    public async Task InitializeAsync()
    {
        await Server.StartAsync();
        // Ready once the node is registered and Ready.
        await WaitForAsync(async () =>
        {
            using var client = Server.AdminClient();
            var nodes = await client.GetFromJsonAsync<JsonObject>("/api/v1/nodes");
            return nodes!["items"]!.AsArray().Any(n => n?["status"]?["conditions"]?.AsArray().Any(c => c?["type"]?.GetValue<string>() == "Ready" && c["status"]?.GetValue<string>() == "True") == true) ? nodes : null;
        }, TimeSpan.FromSeconds(60));
    }

    public async Task DisposeAsync() => await Server.DisposeAsync();

    public async Task<JsonObject> PodAsync(string ns, string name)
    {
        using var client = Server.AdminClient();
        return (await client.GetFromJsonAsync<JsonObject>($"/api/v1/namespaces/{ns}/pods/{name}"))!;
    }

    public async Task<List<JsonObject>> PodsAsync(string ns, string selector)
    {
        using var client = Server.AdminClient();
        var list = await client.GetFromJsonAsync<JsonObject>($"/api/v1/namespaces/{ns}/pods?labelSelector={Uri.EscapeDataString(selector)}");
        return list!["items"]!.AsArray().Select(p => p!.AsObject()).ToList();
    }

    public static bool IsReady(JsonObject pod) =>
        pod["status"]?["conditions"]?.AsArray().Any(c => c?["type"]?.GetValue<string>() == "Ready" && c["status"]?.GetValue<string>() == "True") == true;

    public static JsonObject? Container(JsonObject pod, string name, bool init = false) =>
        pod["status"]?[init ? "initContainerStatuses" : "containerStatuses"]?.AsArray().OfType<JsonObject>().FirstOrDefault(c => c["name"]?.GetValue<string>() == name);

    public static async Task<T> WaitForAsync<T>(Func<Task<T?>> probe, TimeSpan? timeout = null)
        where T : class
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (DateTime.UtcNow < deadline)
        {
            if (await probe() is { } found)
            {
                return found;
            }
            await Task.Delay(200);
        }
        throw new TimeoutException($"condition not reached in {(timeout ?? TimeSpan.FromSeconds(60)).TotalSeconds} s");
    }
}
