using System.Globalization;
using System.Text.Json.Nodes;
using Tugboat.Client;
using Tugboat.Controllers.Runtime;

namespace Tugboat.Controllers.TtlAfterFinished;

/// <summary>
/// Upstream's TTL-after-finished controller: a Job with <c>spec.ttlSecondsAfterFinished</c> is deleted (in the
/// background, so its pods go with it) that many seconds after it completed or failed.
/// </summary>
public sealed class TtlAfterFinishedController : IReconciler
{
    private readonly ApiClient _client;
    private readonly Informer _jobs;

    public TtlAfterFinishedController(ApiClient client, InformerFactory informers, WorkQueue<string> queue)
    {
        _client = client;
        Queue = queue;
        _jobs = informers.For("/apis/batch/v1/jobs");
        _jobs.Added += Changed;
        _jobs.Updated += (_, j) => Changed(j);
    }

    public WorkQueue<string> Queue { get; }

    public IReadOnlyList<Informer> Informers => [_jobs];

    private void Changed(JsonObject job)
    {
        if (job["spec"]?["ttlSecondsAfterFinished"] is not null && FinishedAt(job) is not null)
        {
            Queue.Add(Informer.KeyOf(job));
        }
    }

    /// <summary>When the Job completed or failed (its Complete/Failed condition turned True), or null while it runs.</summary>
    private static DateTime? FinishedAt(JsonObject job) =>
        job["status"]?["conditions"]?.AsArray().OfType<JsonObject>()
            .Where(c => c["type"]?.GetValue<string>() is "Complete" or "Failed" && c["status"]?.GetValue<string>() == "True")
            .Select(c => DateTime.TryParse(c["lastTransitionTime"]?.GetValue<string>() ?? job["status"]?["completionTime"]?.GetValue<string>(), CultureInfo.InvariantCulture,
                DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var t) ? t : (DateTime?)null)
            .FirstOrDefault(t => t is not null);

    public async Task ReconcileAsync(string key, CancellationToken cancellationToken)
    {
        var job = _jobs.Get(key);
        if (job is null || job["metadata"]?["deletionTimestamp"] is not null || job["spec"]?["ttlSecondsAfterFinished"]?.GetValue<long>() is not { } ttl || FinishedAt(job) is not { } finished)
        {
            return;
        }
        var left = finished.AddSeconds(ttl) - DateTime.UtcNow;
        if (left > TimeSpan.Zero)
        {
            Queue.AddAfter(key, left);
            return;
        }
        var meta = job["metadata"]!;
        try
        {
            await _client.DeleteAsync($"/apis/batch/v1/namespaces/{meta["namespace"]}/jobs/{meta["name"]}", new JsonObject
            {
                ["apiVersion"] = "v1",
                ["kind"] = "DeleteOptions",
                ["propagationPolicy"] = "Background",
                ["preconditions"] = new JsonObject { ["uid"] = meta["uid"]?.DeepClone() },
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (ApiError e) when (e.IsNotFound || e.IsConflict)
        {
        }
    }
}
