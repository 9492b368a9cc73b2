using Microsoft.Extensions.Logging;
using Tugboat.Client;
using Tugboat.Controllers.ReplicaSet;
using Tugboat.Controllers.Runtime;

namespace Tugboat.Controllers;

/// <summary>
/// The controller manager: every control loop, each a client of the API server through <see cref="ApiClient"/>
/// (over loopback HTTPS when embedded in <c>tug server</c>).
/// </summary>
public static class ControllerManager
{
    public static async Task RunAsync(string kubeconfig, ILoggerFactory loggers, CancellationToken ct)
    {
        using var client = new ApiClient(ClientConfig.FromKubeconfig(kubeconfig), "tug-controller-manager");
        using var queue = new WorkQueue<string>();
        var replicaSets = new ReplicaSetController(client, queue, loggers.CreateLogger<ReplicaSetController>());
        var loops = new[]
        {
            new ControllerLoop("replicaset", replicaSets, replicaSets.Informers, queue, loggers.CreateLogger<ControllerLoop>()),
        };
        await Task.WhenAll(loops.Select(l => l.RunAsync(ct))).ConfigureAwait(false);
    }
}
