using System.Diagnostics;
using System.Text;

namespace Tugboat.E2E.Tests;

/// <summary>A real <c>tug agent --hollow-nodes N</c> process joined to a <see cref="TugServer"/> with the URL and token only.</summary>
public sealed class HollowAgent(TugServer server, int nodes, string prefix = "hollow", int leaseSeconds = 40) : IAsyncDisposable
{
    private Process? _process;
    private readonly StringBuilder _output = new();

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public IEnumerable<string> NodeNames => Enumerable.Range(0, nodes).Select(i => $"{prefix}-{i}");

    /// <summary>Starts the agent and waits until it says its nodes are registered.</summary>
    public async Task StartAsync()
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        var token = (await File.ReadAllTextAsync(Path.Combine(server.DataDir, "token"))).Trim();
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "tug.dll"), "agent", "--server", server.Url, "--token", token, "--hollow-nodes", nodes.ToString(), "--node-name", prefix, "--node-lease-duration-seconds", leaseSeconds.ToString() })
        {
            psi.ArgumentList.Add(a);
        }
        var registered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _process = new Process { StartInfo = psi, EnableRaisingEvents = true };
        DataReceivedEventHandler collect = (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }
            lock (_output)
            {
                _output.AppendLine(e.Data);
            }
            if (e.Data.Contains("registered", StringComparison.Ordinal))
            {
                registered.TrySetResult();
            }
        };
        _process.OutputDataReceived += collect;
        _process.ErrorDataReceived += collect;
        var process = _process;
        _process.Exited += (_, _) => Task.Run(() =>
        {
            process.WaitForExit();
            registered.TrySetException(new InvalidOperationException("tug agent exited:\n" + Output));
        });
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        await registered.Task.WaitAsync(TimeSpan.FromSeconds(60));
    }

    /// <summary>Stops the agent the way a machine dies: SIGKILL, so its nodes simply stop heartbeating.</summary>
    public async Task KillAsync()
    {
        if (_process is null || _process.HasExited)
        {
            return;
        }
        _process.Kill();
        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        _process.Dispose();
        _process = null;
    }

    public async ValueTask DisposeAsync() => await KillAsync();
}

/// <summary>A server with controllers and scheduler, and three hollow nodes.</summary>
public sealed class HollowClusterFixture : IAsyncLifetime
{
    public TugServer Server { get; } = new();

    public HollowAgent Agent { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        await Server.StartAsync();
        Agent = new HollowAgent(Server, 3);
        await Agent.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await Agent.DisposeAsync();
        await Server.DisposeAsync();
    }
}
