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

    public virtual async Task DisposeAsync() => await Server.DisposeAsync();
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
        await Repository.BuildBusyboxImageAsync(Path.Combine(images, "busybox.tar"), Busybox);
        await base.InitializeAsync();
    }
}

/// <summary>A cluster whose node proxies Services in userspace.</summary>
public sealed class UserspaceProxyClusterFixture() : AgentClusterFixture("--proxy-mode", "userspace");

/// <summary>
/// A containerd node with a registry of its own: Debian's docker-registry on a free loopback port (storage in the
/// data directory), the busybox image pushed to it as app:1, and registries.yaml mirroring registry.test:5000 to it.
/// </summary>
public sealed class RegistryClusterFixture : AgentClusterFixture
{
    private System.Diagnostics.Process? _registry;

    public RegistryClusterFixture()
        : base("--runtime", "containerd")
    {
    }

    public int RegistryPort { get; } = TugServer.FreePort();

    public override async Task InitializeAsync()
    {
        var storage = Path.Combine(Server.DataDir, "registry");
        Directory.CreateDirectory(storage);
        var config = Path.Combine(Server.DataDir, "registry.yml");
        await File.WriteAllTextAsync(config, $"version: 0.1\nlog: {{level: error}}\nstorage: {{filesystem: {{rootdirectory: {storage}}}}}\nhttp: {{addr: 127.0.0.1:{RegistryPort}}}\n");
        _registry = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("/usr/bin/docker-registry", ["serve", config]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        _registry.OutputDataReceived += (_, _) => { };
        _registry.ErrorDataReceived += (_, _) => { };
        _registry.BeginOutputReadLine();
        _registry.BeginErrorReadLine();
        await File.WriteAllTextAsync(Path.Combine(Server.DataDir, "registries.yaml"), $"mirrors:\n  \"registry.test:5000\":\n    endpoint:\n      - \"http://127.0.0.1:{RegistryPort}\"\n");
        var images = Path.Combine(Server.DataDir, "agent", "images");
        Directory.CreateDirectory(images);
        await Repository.BuildBusyboxImageAsync(Path.Combine(images, "busybox.tar"), ContainerdClusterFixture.Busybox);
        await base.InitializeAsync();
        var socket = Path.Combine(Server.DataDir, "agent", "containerd", "containerd.sock");
        var pushed = $"127.0.0.1:{RegistryPort}/app:1";
        await RunAsync("/usr/bin/ctr", "--address", socket, "--namespace", "k8s.io", "images", "tag", ContainerdClusterFixture.Busybox, pushed);
        await Eventually.ForAsync(async () => await RunAsync("/usr/bin/ctr", "--address", socket, "--namespace", "k8s.io", "images", "push", "--plain-http", pushed) == 0 ? "pushed" : null, TimeSpan.FromSeconds(30));
        // Only the registry has it now: the pulls in the tests must go there.
        await RunAsync("/usr/bin/ctr", "--address", socket, "--namespace", "k8s.io", "images", "rm", pushed);
    }

    private static async Task<int> RunAsync(string program, params string[] args)
    {
        using var p = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo(program, args) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var output = p.StandardOutput.ReadToEndAsync();
        var errors = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        await Task.WhenAll(output, errors);
        return p.ExitCode;
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        if (_registry is { HasExited: false })
        {
            _registry.Kill();
            await _registry.WaitForExitAsync();
        }
        _registry?.Dispose();
    }
}
