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

    public virtual async Task InitializeAsync()
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

/// <summary>
/// A cluster whose node runs image pods in containerd (the agent's own), with a busybox image built offline by the
/// example script and dropped into the agent's images folder before it starts.
/// </summary>
public sealed class ContainerdClusterFixture() : AgentClusterFixture("--runtime", "containerd")
{
    public const string Busybox = "docker.io/library/busybox:1.35";

    public override async Task InitializeAsync()
    {
        var images = Path.Combine(Server.DataDir, "agent", "images");
        Directory.CreateDirectory(images);
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "Tugboat.sln")))
        {
            root = root.Parent;
        }
        var script = Path.Combine(root!.FullName, "examples", "images", "busybox-image.py");
        using (var build = System.Diagnostics.Process.Start("python3", [script, Path.Combine(images, "busybox.tar"), Busybox])!)
        {
            await build.WaitForExitAsync();
            Assert.Equal(0, build.ExitCode);
        }
        await base.InitializeAsync();
    }
}

/// <summary>A cluster whose node proxies Services in userspace.</summary>
public sealed class UserspaceProxyClusterFixture() : AgentClusterFixture("--proxy-mode", "userspace");
