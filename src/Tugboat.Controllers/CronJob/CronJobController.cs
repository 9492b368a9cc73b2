using System.Globalization;
using System.Text.Json.Nodes;
using Tugboat.Client;
using Tugboat.Controllers.Runtime;
using static Tugboat.Controllers.Runtime.Owners;

namespace Tugboat.Controllers.CronJob;

/// <summary>
/// Starts Jobs on a CronJob's schedule, as upstream's controller: the latest missed time since the last schedule (too
/// late past <c>startingDeadlineSeconds</c> is skipped), <c>concurrencyPolicy</c> Allow, Forbid or Replace, suspend,
/// the schedule's <c>timeZone</c>, jobs named <c>&lt;cronjob&gt;-&lt;minutes since epoch&gt;</c>, finished jobs
/// pruned beyond the history limits, and status with the active jobs and the last schedule and success times.
/// </summary>
public sealed class CronJobController : IReconciler
{
    private readonly ApiClient _client;
    private readonly Informer _cronJobs;
    private readonly Informer _jobs;

    public CronJobController(ApiClient client, InformerFactory informers, WorkQueue<string> queue)
    {
        _client = client;
        Queue = queue;
        _cronJobs = informers.For("/apis/batch/v1/cronjobs", TimeSpan.FromMinutes(5));
        _jobs = informers.For("/apis/batch/v1/jobs", TimeSpan.FromMinutes(5));
        _cronJobs.Added += c => queue.Add(Informer.KeyOf(c));
        _cronJobs.Updated += (_, c) => queue.Add(Informer.KeyOf(c));
        _jobs.Added += JobChanged;
        _jobs.Updated += (_, j) => JobChanged(j);
        _jobs.Deleted += JobChanged;
    }

    public WorkQueue<string> Queue { get; }

    public EventRecorder? Events { get; init; }

    public IReadOnlyList<Informer> Informers => [_cronJobs, _jobs];

    private void JobChanged(JsonObject job)
    {
        if (ControllerOf(job) is { } owner && owner["kind"]?.GetValue<string>() == "CronJob")
        {
            Queue.Add(Namespace(job) + "/" + owner["name"]?.GetValue<string>());
        }
    }

    public async Task ReconcileAsync(string key, CancellationToken ct)
    {
        var cron = _cronJobs.Get(key);
        if (cron is null || Deleting(cron))
        {
            return;
        }
        var ns = Namespace(cron);
        var uid = cron["metadata"]!["uid"]!.GetValue<string>();
        var spec = cron["spec"] as JsonObject ?? [];
        var jobs = _jobs.List().Where(j => ControllerUid(j) == uid).ToList();
        var active = jobs.Where(j => !Finished(j)).ToList();
        var status = cron["status"] as JsonObject ?? [];
        var now = DateTimeOffset.UtcNow;
        var zone = TimeZoneInfo.Utc;
        if (spec["timeZone"]?.GetValue<string>() is { } tz)
        {
            if (!TimeZoneInfo.TryFindSystemTimeZoneById(tz, out var found))
            {
                // As upstream: a zone that is no longer known (the machine's zone database changed) stops the schedule.
                Events?.Record(cron, "batch/v1", "CronJob", "Warning", "UnknownTimeZone", $"invalid timeZone: \"{tz}\": unknown time zone {tz}");
                return;
            }
            zone = found;
        }
        var text = spec["schedule"]?.GetValue<string>() ?? string.Empty;
        CronSchedule schedule;
        try
        {
            schedule = CronSchedule.Parse(text);
        }
        catch (FormatException e)
        {
            Events?.Record(cron, "batch/v1", "CronJob", "Warning", "UnparseableSchedule", $"unparseable schedule: \"{text}\" : {e.Message}");
            return;
        }
        if (!schedule.FiresAtAll)
        {
            // Upstream's words for a schedule that never comes round (its next two times are the same zero time).
            Events?.Record(cron, "batch/v1", "CronJob", "Warning", "InvalidSchedule", $"invalid schedule: {text} : time difference between two schedules is less than 1 second");
            return;
        }
        var last = Time(status["lastScheduleTime"]) ?? Time(cron["metadata"]?["creationTimestamp"]) ?? now;
        var lastScheduled = status["lastScheduleTime"]?.DeepClone();
        if (spec["suspend"]?.GetValue<bool>() != true && schedule.Between(last, now, zone) is { Count: > 0 } due)
        {
            var scheduled = due[^1];
            var tooLate = spec["startingDeadlineSeconds"] is { } deadline && now - scheduled > TimeSpan.FromSeconds(Long(deadline));
            var policy = spec["concurrencyPolicy"]?.GetValue<string>() ?? "Allow";
            if (!tooLate && !(policy == "Forbid" && active.Count > 0))
            {
                if (policy == "Replace")
                {
                    foreach (var job in active)
                    {
                        await DeleteAsync(job, ct).ConfigureAwait(false);
                    }
                    active.Clear();
                }
                var created = await CreateJobAsync(cron, scheduled, ct).ConfigureAwait(false);
                if (created is not null)
                {
                    active.Add(created);
                }
                lastScheduled = Stamp(scheduled);
            }
        }
        await PruneAsync(jobs.Where(Finished).ToList(), spec, ct).ConfigureAwait(false);
        var next = new JsonObject();
        if (active.Count > 0)
        {
            next["active"] = new JsonArray(active.OrderBy(Name, StringComparer.Ordinal).Select(j => (JsonNode)new JsonObject
            {
                ["kind"] = "Job",
                ["namespace"] = ns,
                ["name"] = Name(j),
                ["uid"] = j["metadata"]!["uid"]!.DeepClone(),
                ["apiVersion"] = "batch/v1",
                ["resourceVersion"] = j["metadata"]?["resourceVersion"]?.DeepClone(),
            }).ToArray());
        }
        if (lastScheduled is not null)
        {
            next["lastScheduleTime"] = lastScheduled;
        }
        var lastSuccess = jobs.Where(j => HasTrueCondition(j["status"] as JsonObject, "Complete")).Select(j => j["status"]?["completionTime"]?.GetValue<string>()).OfType<string>().Max(StringComparer.Ordinal);
        if (lastSuccess is not null)
        {
            next["lastSuccessfulTime"] = lastSuccess;
        }
        if (!JsonNode.DeepEquals(next, status))
        {
            var update = (JsonObject)cron.DeepClone();
            update["status"] = next;
            await _client.UpdateAsync($"/apis/batch/v1/namespaces/{ns}/cronjobs/{Name(cron)}/status", update, ct).ConfigureAwait(false);
        }
        // Come back at the next scheduled minute.
        if (schedule.Next(now, zone) is { } upcoming)
        {
            var wait = upcoming - DateTimeOffset.UtcNow;
            Queue.AddAfter(key, wait < TimeSpan.Zero ? TimeSpan.Zero : wait + TimeSpan.FromMilliseconds(100));
        }
        else
        {
            Queue.AddAfter(key, TimeSpan.FromHours(1));
        }
    }

    private async Task<JsonObject?> CreateJobAsync(JsonObject cron, DateTimeOffset scheduled, CancellationToken ct)
    {
        var template = cron["spec"]?["jobTemplate"] as JsonObject ?? [];
        var name = $"{Name(cron)}-{scheduled.ToUnixTimeSeconds() / 60}";
        var annotations = template["metadata"]?["annotations"]?.DeepClone() as JsonObject ?? new JsonObject();
        annotations["batch.kubernetes.io/cronjob-scheduled-timestamp"] = scheduled.ToString("yyyy-MM-dd'T'HH:mm:ssK", CultureInfo.InvariantCulture);
        var job = new JsonObject
        {
            ["apiVersion"] = "batch/v1",
            ["kind"] = "Job",
            ["metadata"] = new JsonObject
            {
                ["name"] = name,
                ["namespace"] = Namespace(cron),
                ["labels"] = template["metadata"]?["labels"]?.DeepClone(),
                ["annotations"] = annotations,
                ["ownerReferences"] = new JsonArray(Reference(cron, "batch/v1", "CronJob")),
            },
            ["spec"] = template["spec"]?.DeepClone(),
        };
        try
        {
            return await _client.CreateAsync($"/apis/batch/v1/namespaces/{Namespace(cron)}/jobs", job, ct).ConfigureAwait(false);
        }
        catch (ApiError e) when (e.IsAlreadyExists)
        {
            // Already started for this time (a retry after a lost status write).
            return null;
        }
    }

    private async Task PruneAsync(List<JsonObject> finished, JsonObject spec, CancellationToken ct)
    {
        foreach (var (condition, limit) in new[] { ("Complete", Long(spec["successfulJobsHistoryLimit"], 3)), ("Failed", Long(spec["failedJobsHistoryLimit"], 1)) })
        {
            var matching = finished.Where(j => HasTrueCondition(j["status"] as JsonObject, condition)).OrderBy(j => j["metadata"]?["creationTimestamp"]?.GetValue<string>(), StringComparer.Ordinal).ToList();
            foreach (var job in matching.Take(Math.Max(0, matching.Count - (int)limit)))
            {
                await DeleteAsync(job, ct).ConfigureAwait(false);
            }
        }
    }

    private async Task DeleteAsync(JsonObject job, CancellationToken ct)
    {
        try
        {
            await _client.DeleteAsync($"/apis/batch/v1/namespaces/{Namespace(job)}/jobs/{Name(job)}", new JsonObject { ["propagationPolicy"] = "Background" }, ct).ConfigureAwait(false);
        }
        catch (ApiError e) when (e.IsNotFound)
        {
        }
    }

    private static bool Finished(JsonObject job) => HasTrueCondition(job["status"] as JsonObject, "Complete") || HasTrueCondition(job["status"] as JsonObject, "Failed");

    private static DateTimeOffset? Time(JsonNode? node) =>
        DateTimeOffset.TryParse(node?.GetValue<string>(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t) ? t : null;

    private static string Stamp(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
}
