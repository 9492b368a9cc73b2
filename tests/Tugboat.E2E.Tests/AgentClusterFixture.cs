using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Tugboat.E2E.Tests;

/// <summary>A tug server with its embedded node agent running real pods (process runtime, CNI pod network as root).</summary>
public class AgentClusterFixture : IAsyncLifetime
{
    public AgentClusterFixture()
        : this([])
    {
    }

    protected AgentClusterFixture(params string[] serverArgs)
    {
        Server = new TugServer(extraArgs: serverArgs) { Agent = true };
    }

    public TugServer Server { get; }

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

/// <summary>A cluster whose node proxies Services in userspace.</summary>
public sealed class UserspaceProxyClusterFixture() : AgentClusterFixture("--proxy-mode", "userspace");
