using System.Diagnostics;

namespace Tugboat.E2E.Tests;

/// <summary>The official client libraries drive the server unchanged (installed by .ci/run: npm ci in Clients/, python3-kubernetes).</summary>
public sealed class ClientLibraryTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private static readonly string Clients = Path.Combine(Repository.Root(), "tests", "Tugboat.E2E.Tests", "Clients");

    [Fact]
    public async Task KubernetesClientNode()
    {
        Assert.True(Directory.Exists(Path.Combine(Clients, "node_modules", "@kubernetes", "client-node")),
            $"@kubernetes/client-node is required: run `npm ci --prefix {Clients}` (.ci/run does)");
        var output = await RunAsync("node", "client-node.mjs", fixture.Server.Kubeconfig);
        Assert.Contains("namespaces default,kube-node-lease,kube-public,kube-system", output);
        Assert.Contains("created node-cm", output);
        Assert.Contains("patched {\"a\":\"b\",\"c\":\"d\"}", output);
        Assert.Contains("watch MODIFIED node-cm {\"a\":\"b\",\"c\":\"d\"}", output);
        Assert.Contains("watch MODIFIED node-cm {\"e\":\"f\"}", output);
        Assert.Contains("watch DELETED node-cm {\"e\":\"f\"}", output);
        Assert.Contains("gone 404", output);
    }

    [Fact]
    public async Task KubernetesClientNodeDrivesDeploymentsAndCustomResourcesWithEveryPatchType()
    {
        var output = await RunAsync("node", "client-node-workloads.mjs", fixture.Server.Kubeconfig);
        Assert.Contains("deployments node-web", output);
        Assert.Contains("json-patch replicas 2", output);
        Assert.Contains("merge-patch note merge", output);
        Assert.Contains("strategic containers web,side", output);
        Assert.Contains("apply replicas 3 managers node-apply:Apply", output);
        Assert.Contains("watch ADDED node-web 1", output);
        Assert.Contains("watch DELETED node-web 3", output);
        Assert.Contains("gadgets g1", output);
        Assert.Contains("cr json-patch a,b", output);
        Assert.Contains("cr merge-patch 2", output);
        // As upstream: custom resources have no strategic merge metadata, so that patch type is refused with 415.
        Assert.Contains("cr strategic 415", output);
        Assert.Contains("cr apply 4", output);
        Assert.Contains("cr watch ADDED g1 1", output);
        Assert.Contains("cr watch DELETED g1 4", output);
        Assert.Contains("done", output);
    }

    [Fact]
    public async Task KubernetesPythonClient()
    {
        var output = await RunAsync("/usr/bin/python3", "client-python.py", fixture.Server.Kubeconfig);
        Assert.DoesNotContain("ModuleNotFoundError", output);
        Assert.Contains("created py-cm", output);
        Assert.Contains("patched a=b,c=d", output);
        Assert.Contains("watch ADDED py-cm", output);
        Assert.Contains("gone 404", output);
    }

    /// <summary>Runs a client-library script from Clients/ with the kubeconfig and <paramref name="args"/>; fails the test unless it exits 0.</summary>
    internal static async Task<string> RunAsync(string program, string script, string kubeconfig, params string[] args)
    {
        var psi = new ProcessStartInfo(program) { WorkingDirectory = Clients, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(script);
        psi.ArgumentList.Add(kubeconfig);
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        var output = await stdout + await stderr;
        Assert.True(p.ExitCode == 0, $"{program} {script} failed ({p.ExitCode}):\n{output}");
        return output;
    }
}
