using System.Text.Json.Nodes;
using Tugboat.Client;
using Tugboat.Controllers.Runtime;

namespace Tugboat.Controllers.PodGC;

/// <summary>
/// Upstream's pod garbage collector: when more than <see cref="TerminatedThreshold"/> pods have finished (Succeeded or
/// Failed), the oldest finished ones are deleted until the threshold holds; pods being deleted that were never bound to
/// a node (no agent will ever finish their deletion) are removed at once. Pods of deleted nodes are the node
/// lifecycle controller's.
/// </summary>
public sealed class PodGCController : IReconciler
{
    /// <summary>The one key this controller reconciles: it looks at all pods at once.</summary>
    public const string Key = "pods";

    private readonly ApiClient _client;
    private readonly Informer _pods;

    public PodGCController(ApiClient client, InformerFactory informers, WorkQueue<string> queue, int terminatedThreshold)
    {
        _client = client;
        TerminatedThreshold = terminatedThreshold;
        Queue = queue;
        _pods = informers.For("/api/v1/pods");
        _pods.Added += p => Changed(p);
        _pods.Updated += (_, p) => Changed(p);
    }

    /// <summary>Finished pods kept (upstream's --terminated-pod-gc-threshold, default 12,500); 0 or less keeps them all.</summary>
    public int TerminatedThreshold { get; }

    public WorkQueue<string> Queue { get; }

    public IReadOnlyList<Informer> Informers => [_pods];

    private void Changed(JsonObject pod)
    {
        if (Finished(pod) || (pod["metadata"]?["deletionTimestamp"] is not null && string.IsNullOrEmpty(pod["spec"]?["nodeName"]?.GetValue<string>())))
        {
            // Batched: many pods finishing at once make one pass.
            Queue.AddAfter(Key, TimeSpan.FromSeconds(1));
        }
    }

    private static bool Finished(JsonObject pod) => pod["status"]?["phase"]?.GetValue<string>() is "Succeeded" or "Failed";

    public async Task ReconcileAsync(string key, CancellationToken cancellationToken)
    {
        var pods = _pods.List();
        foreach (var pod in pods.Where(p => p["metadata"]?["deletionTimestamp"] is not null && string.IsNullOrEmpty(p["spec"]?["nodeName"]?.GetValue<string>())))
        {
            await DeleteAsync(pod, cancellationToken).ConfigureAwait(false);
        }
        if (TerminatedThreshold <= 0)
        {
            return;
        }
        var finished = pods.Where(p => Finished(p) && p["metadata"]?["deletionTimestamp"] is null).ToList();
        var excess = finished.Count - TerminatedThreshold;
        if (excess <= 0)
        {
            return;
        }
        foreach (var pod in finished.OrderBy(p => p["metadata"]?["creationTimestamp"]?.GetValue<string>(), StringComparer.Ordinal)
            .ThenBy(p => p["metadata"]?["name"]?.GetValue<string>(), StringComparer.Ordinal).Take(excess))
        {
            await DeleteAsync(pod, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task DeleteAsync(JsonObject pod, CancellationToken ct)
    {
        var meta = pod["metadata"]!;
        try
        {
            await _client.DeleteAsync($"/api/v1/namespaces/{meta["namespace"]}/pods/{meta["name"]}", new JsonObject
            {
                ["apiVersion"] = "v1",
                ["kind"] = "DeleteOptions",
                ["gracePeriodSeconds"] = 0,
                ["preconditions"] = new JsonObject { ["uid"] = meta["uid"]?.DeepClone() },
            }, ct).ConfigureAwait(false);
        }
        catch (ApiError e) when (e.IsNotFound || e.IsConflict)
        {
        }
    }
}
