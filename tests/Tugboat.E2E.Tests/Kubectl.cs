using System.Diagnostics;

namespace Tugboat.E2E.Tests;

/// <summary>Runs a real kubectl binary against a server's kubeconfig.</summary>
public sealed class Kubectl(string binary, string kubeconfig)
{
    public const string V132 = "/usr/lib/google-cloud-sdk/bin/kubectl.1.32";
    public const string V127 = "/usr/lib/google-cloud-sdk/bin/kubectl.1.27";

    public static IEnumerable<object[]> Versions => [[V132], [V127]];

    public sealed record Result(int ExitCode, string Out, string Err)
    {
        public Result Ok()
        {
            Assert.True(ExitCode == 0, $"kubectl failed ({ExitCode}):\n{Err}\n{Out}");
            return this;
        }

        public Result Fails()
        {
            Assert.True(ExitCode != 0, $"kubectl unexpectedly succeeded:\n{Out}");
            return this;
        }
    }

    public async Task<Result> RunAsync(params string[] args) => await RunWithInputAsync(null, args);

    public Task<Result> RunWithInputAsync(string? stdin, params string[] args) => RunAsync(stdin, [], args);

    public Task<Result> RunWithEnvironmentAsync(Dictionary<string, string> environment, params string[] args) => RunAsync(null, environment, args);

    private async Task<Result> RunAsync(string? stdin, Dictionary<string, string> environment, string[] args)
    {
        Assert.True(File.Exists(binary), $"kubectl is required at {binary} (see .ci/run)");
        var psi = new ProcessStartInfo(binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin is not null,
            UseShellExecute = false,
        };
        psi.Environment["KUBECONFIG"] = kubeconfig;
        psi.Environment["HOME"] = Path.GetDirectoryName(kubeconfig)!;
        foreach (var (name, value) in environment)
        {
            psi.Environment[name] = value;
        }
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi)!;
        if (stdin is not null)
        {
            await p.StandardInput.WriteAsync(stdin);
            p.StandardInput.Close();
        }
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await p.WaitForExitAsync(cts.Token);
        return new Result(p.ExitCode, await stdout, await stderr);
    }

    /// <summary>Starts a long-running kubectl (such as <c>get -w</c>) and returns it; the caller kills it.</summary>
    public Process Start(params string[] args)
    {
        var psi = new ProcessStartInfo(binary) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.Environment["KUBECONFIG"] = kubeconfig;
        psi.Environment["HOME"] = Path.GetDirectoryName(kubeconfig)!;
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        return Process.Start(psi)!;
    }
}

/// <summary>One API server without controllers, for tests that assert exact resourceVersions and generations.</summary>
public sealed class ApiOnlyServerFixture : IAsyncLifetime
{
    public TugServer Server { get; } = new(disableControllers: true);

    public Task InitializeAsync() => Server.StartAsync();

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

/// <summary>One server for a test class; each test works in its own namespace.</summary>
public sealed class ServerFixture : IAsyncLifetime
{
    public TugServer Server { get; } = new();

    public Task InitializeAsync() => Server.StartAsync();

    public async Task DisposeAsync() => await Server.DisposeAsync();
}
