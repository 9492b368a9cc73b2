using System.Net;
using System.Net.Sockets;
using Tugboat.ApiServer.Hosting;

namespace Tugboat.Client.Tests;

/// <summary>A tug API server running in the test process, in a temporary data directory.</summary>
public sealed class InProcessServer : IAsyncLifetime
{
    private readonly CancellationTokenSource _stop = new();
    private Task? _run;

    public string DataDir { get; } = Directory.CreateTempSubdirectory("tugboat-client-").FullName;

    public ApiClient Client { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        var port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _run = ApiServerHost.RunAsync(new ServerOptions { DataDir = DataDir, Port = port }, _ => ready.TrySetResult(), _stop.Token);
        await Task.WhenAny(ready.Task, _run).WaitAsync(TimeSpan.FromSeconds(60));
        if (_run.IsFaulted)
        {
            await _run;
        }
        Client = new ApiClient(ClientConfig.FromKubeconfig(Path.Combine(DataDir, "kubeconfig.yaml")), "tugboat-client-tests");
    }

    public async Task DisposeAsync()
    {
        Client.Dispose();
        await _stop.CancelAsync();
        if (_run is not null)
        {
            await _run;
        }
        Directory.Delete(DataDir, recursive: true);
    }
}
