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
        await Eventually.ForAsync(async () =>
        {
            using var client = Server.AdminClient();
            var nodes = await client.GetFromJsonAsync<JsonObject>("/api/v1/nodes");
            return nodes!["items"]!.AsArray().Any(n => n?["status"]?["conditions"]?.AsArray().Any(c => c?["type"]?.GetValue<string>() == "Ready" && c["status"]?.GetValue<string>() == "True") == true) ? nodes : null;
        }, TimeSpan.FromSeconds(60));
    }

    public async Task DisposeAsync() => await Server.DisposeAsync();
}
