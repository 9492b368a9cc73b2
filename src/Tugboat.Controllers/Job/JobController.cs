using System.Globalization;
using System.Text.Json.Nodes;
using Tugboat.Client;
using Tugboat.Controllers.Runtime;
using static Tugboat.Controllers.Runtime.Owners;

namespace Tugboat.Controllers.Job;

/// <summary>
/// Runs Jobs to completion, as upstream's controller: keeps up to <c>parallelism</c> pods running while fewer than
/// <c>completions</c> have succeeded (Indexed jobs: one pod per unfinished index, with the index in the
/// <c>batch.kubernetes.io/job-completion-index</c> annotation and label), counts succeeded and failed pods, fails the
/// Job past <c>backoffLimit</c> failures or <c>activeDeadlineSeconds</c>, honours <c>suspend</c>, and reports the
/// Complete or Failed condition with start and completion times.
/// </summary>
public sealed class JobController : IReconciler
{
    private const string IndexAnnotation = "batch.kubernetes.io/job-completion-index";
    private readonly ApiClient _client;
    private readonly Informer _jobs;
    private readonly Informer _pods;
    private readonly Expectations _expectations = new();

    public JobController(ApiClient client, InformerFactory informers, WorkQueue<string> queue)
    {
        _client = client;
        Queue = queue;
        _jobs = informers.For("/apis/batch/v1/jobs", TimeSpan.FromMinutes(10));
        _pods = informers.For("/api/v1/pods", TimeSpan.FromMinutes(10));
        _jobs.Added += j => queue.Add(Informer.KeyOf(j));
        _jobs.Updated += (_, j) => queue.Add(Informer.KeyOf(j));
        _pods.Added += p => _expectations.PodChanged(p, true, "Job", queue);
        _pods.Updated += (_, p) => _expectations.PodChanged(p, null, "Job", queue);
        _pods.Deleted += p => _expectations.PodChanged(p, false, "Job", queue);
    }

    /// <summary>Where the events this controller records go (none when null).</summary>
    public EventRecorder? Events { get; init; }

    /// <summary>What a podFailurePolicy rule decided for a failed pod, with upstream's message for FailJob.</summary>
    private sealed record Verdict(string Action, string Message);

    /// <summary>The action of the first rule matching a failed pod (onExitCodes or onPodConditions), or null (Count).</summary>
    private static Verdict? PolicyFor(JsonObject pod, JsonArray rules)
    {
        var ns = pod["metadata"]?["namespace"]?.GetValue<string>();
        var name = pod["metadata"]?["name"]?.GetValue<string>();
        for (var i = 0; i < rules.Count; i++)
        {
            if (rules[i] is not JsonObject rule)
            {
                continue;
            }
            var action = rule["action"]?.GetValue<string>() ?? "Count";
            if (rule["onExitCodes"] is JsonObject codes)
            {
                var container = codes["containerName"]?.GetValue<string>();
                var @in = codes["operator"]?.GetValue<string>() != "NotIn";
                var values = codes["values"]?.AsArray().Select(v => v!.GetValue<int>()).ToHashSet() ?? [];
                foreach (var status in pod["status"]?["containerStatuses"]?.AsArray().OfType<JsonObject>() ?? [])
                {
                    var cname = status["name"]?.GetValue<string>();
                    if (container is not null && cname != container || status["state"]?["terminated"]?["exitCode"]?.GetValue<int>() is not { } code || code == 0)
                    {
                        continue;
                    }
                    if (values.Contains(code) == @in)
                    {
                        return new Verdict(action, $"Container {cname} for pod {ns}/{name} failed with exit code {code} matching {action} rule at index {i}");
                    }
                }
            }
            foreach (var pattern in rule["onPodConditions"]?.AsArray().OfType<JsonObject>() ?? [])
            {
                var type = pattern["type"]?.GetValue<string>();
                var want = pattern["status"]?.GetValue<string>() ?? "True";
                if (pod["status"]?["conditions"]?.AsArray().OfType<JsonObject>().Any(c => c["type"]?.GetValue<string>() == type && c["status"]?.GetValue<string>() == want) == true)
                {
                    return new Verdict(action, $"Pod {ns}/{name} has condition {type} matching {action} rule at index {i}");
                }
            }
        }
        return null;
    }

    public WorkQueue<string> Queue { get; }

    public IReadOnlyList<Informer> Informers => [_jobs, _pods];

    public async Task ReconcileAsync(string key, CancellationToken ct)
    {
        var job = _jobs.Get(key);
        if (job is null || Deleting(job))
        {
            _expectations.Forget(key);
            return;
        }
        // Before the pods are listed: see Expectations.Satisfied.
        var satisfied = _expectations.Satisfied(key);
        var uid = job["metadata"]!["uid"]!.GetValue<string>();
        var pods = _pods.List().Where(p => ControllerUid(p) == uid).ToList();
        var succeeded = pods.Where(p => Phase(p) == "Succeeded").ToList();
        var spec0 = job["spec"] as JsonObject ?? [];
        // podFailurePolicy: the first matching rule decides what a failed pod means (Ignore: not counted).
        var rules = spec0["podFailurePolicy"]?["rules"] as JsonArray;
        var verdicts = pods.Where(p => Phase(p) == "Failed").Select(p => (Pod: p, Verdict: rules is null ? null : PolicyFor(p, rules))).ToList();
        var failed = verdicts.Count(v => v.Verdict?.Action != "Ignore");
        var failJob = verdicts.Select(v => v.Verdict).FirstOrDefault(v => v?.Action == "FailJob");
        var active = pods.Where(p => Phase(p) is not ("Succeeded" or "Failed") && !Deleting(p)).ToList();
        var spec = job["spec"] as JsonObject ?? [];
        var indexed = spec["completionMode"]?.GetValue<string>() == "Indexed";
        var completions = spec["completions"] is { } c ? Long(c) : (long?)null;
        var parallelism = Long(spec["parallelism"], 1);
        var backoffLimit = Long(spec["backoffLimit"], 6);
        var suspended = spec["suspend"]?.GetValue<bool>() == true;
        var status = job["status"] as JsonObject ?? [];
        var now = DateTime.UtcNow;
        var startTime = status["startTime"]?.GetValue<string>() ?? (suspended ? null : Stamp(now));
        var finished = HasTrueCondition(status, "Complete") || HasTrueCondition(status, "Failed");
        var succeededIndexes = succeeded.Select(Index).OfType<long>().Distinct().OrderBy(i => i).ToList();
        var succeededCount = indexed ? succeededIndexes.Count : succeeded.Count;

        string? failure = null;
        if (!finished && failJob is { } rule)
        {
            failure = "PodFailurePolicy|" + rule.Message;
        }
        else if (!finished && failed > backoffLimit)
        {
            failure = "BackoffLimitExceeded|Job has reached the specified backoff limit";
        }
        else if (!finished && spec["activeDeadlineSeconds"] is { } deadline && startTime is not null
            && DateTime.TryParse(startTime, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var started)
            && now - started >= TimeSpan.FromSeconds(Long(deadline)))
        {
            failure = "DeadlineExceeded|Job was active longer than specified deadline";
        }
        var complete = !finished && failure is null && (completions is { } need ? succeededCount >= need : succeeded.Count > 0 && active.Count == 0);

        if (failure is not null || complete || suspended || finished)
        {
            foreach (var pod in active)
            {
                await DeletePodAsync(pod, ct).ConfigureAwait(false);
            }
        }
        else if (satisfied)
        {
            var wanted = completions is { } total ? Math.Min(parallelism, total - succeededCount) : (succeeded.Count > 0 ? 0 : parallelism);
            if (active.Count < wanted)
            {
                var busy = active.Select(Index).OfType<long>().Concat(succeededIndexes).ToHashSet();
                var free = indexed ? Enumerable.Range(0, (int)(completions ?? 0)).Select(i => (long)i).Where(i => !busy.Contains(i)).ToList() : [];
                var create = (int)(wanted - active.Count);
                if (indexed)
                {
                    create = Math.Min(create, free.Count);
                }
                _expectations.Expect(key, create, 0);
                for (var i = 0; i < create; i++)
                {
                    try
                    {
                        await CreatePodAsync(job, indexed ? free[i] : null, ct).ConfigureAwait(false);
                    }
                    catch (ApiError)
                    {
                        for (var rest = i; rest < create; rest++)
                        {
                            _expectations.Failed(key, add: true);
                        }
                        throw;
                    }
                }
            }
            if (spec["activeDeadlineSeconds"] is { } d)
            {
                Queue.AddAfter(key, TimeSpan.FromSeconds(Long(d)));
            }
        }

        var next = new JsonObject();
        if (startTime is not null)
        {
            next["startTime"] = startTime;
        }
        var conditions = status["conditions"]?.DeepClone() as JsonArray ?? new JsonArray();
        if (failure is not null)
        {
            var parts = failure.Split('|');
            Events?.Record(job, "batch/v1", "Job", "Warning", parts[0], parts[1]);
            conditions.Add(new JsonObject { ["type"] = "Failed", ["status"] = "True", ["lastProbeTime"] = Stamp(now), ["lastTransitionTime"] = Stamp(now), ["reason"] = parts[0], ["message"] = parts[1] });
        }
        if (complete)
        {
            Events?.Record(job, "batch/v1", "Job", "Normal", "Completed", "Job completed");
            conditions.Add(new JsonObject { ["type"] = "Complete", ["status"] = "True", ["lastProbeTime"] = Stamp(now), ["lastTransitionTime"] = Stamp(now) });
            next["completionTime"] = Stamp(now);
        }
        else if (status["completionTime"] is { } done)
        {
            next["completionTime"] = done.DeepClone();
        }
        if (conditions.Count > 0)
        {
            next["conditions"] = conditions;
        }
        var stillActive = failure is null && !complete && !finished && !suspended ? active.Count : 0;
        if (stillActive > 0)
        {
            next["active"] = stillActive;
        }
        if (succeededCount > 0)
        {
            next["succeeded"] = succeededCount;
        }
        if (failed > 0)
        {
            next["failed"] = failed;
        }
        if (indexed && succeededIndexes.Count > 0)
        {
            next["completedIndexes"] = string.Join(",", succeededIndexes);
        }
        next["ready"] = active.Count(IsReady);
        if (JsonNode.DeepEquals(next, status))
        {
            return;
        }
        var update = (JsonObject)job.DeepClone();
        update["status"] = next;
        await _client.UpdateAsync($"/apis/batch/v1/namespaces/{Namespace(job)}/jobs/{Name(job)}/status", update, ct).ConfigureAwait(false);
    }

    private async Task CreatePodAsync(JsonObject job, long? index, CancellationToken ct)
    {
        var template = job["spec"]?["template"] as JsonObject ?? [];
        var metadata = new JsonObject
        {
            ["generateName"] = Name(job) + (index is { } i ? $"-{i}-" : "-"),
            ["namespace"] = Namespace(job),
            ["labels"] = template["metadata"]?["labels"]?.DeepClone() ?? new JsonObject(),
            ["annotations"] = template["metadata"]?["annotations"]?.DeepClone() ?? new JsonObject(),
            ["ownerReferences"] = new JsonArray(Reference(job, "batch/v1", "Job")),
        };
        var spec = template["spec"]?.DeepClone() as JsonObject ?? [];
        if (index is { } idx)
        {
            var text = idx.ToString(CultureInfo.InvariantCulture);
            metadata["annotations"]![IndexAnnotation] = text;
            metadata["labels"]![IndexAnnotation] = text;
            // Upstream gives indexed pods a stable hostname and the index in JOB_COMPLETION_INDEX.
            spec["hostname"] = $"{Name(job)}-{text}";
            foreach (var c in spec["containers"]?.AsArray().OfType<JsonObject>() ?? [])
            {
                var env = c["env"] as JsonArray ?? new JsonArray();
                env.Add(new JsonObject { ["name"] = "JOB_COMPLETION_INDEX", ["value"] = text });
                c["env"] = env;
            }
        }
        var created = await _client.CreateAsync($"/api/v1/namespaces/{Namespace(job)}/pods", new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Pod",
            ["metadata"] = metadata,
            ["spec"] = spec,
        }, ct).ConfigureAwait(false);
        Events?.Record(job, "batch/v1", "Job", "Normal", "SuccessfulCreate", $"Created pod: {Name(created)}");
    }

    private async Task DeletePodAsync(JsonObject pod, CancellationToken ct)
    {
        try
        {
            await _client.DeleteAsync($"/api/v1/namespaces/{Namespace(pod)}/pods/{Name(pod)}", null, ct).ConfigureAwait(false);
        }
        catch (ApiError e) when (e.IsNotFound)
        {
        }
    }

    private static long? Index(JsonObject pod) =>
        long.TryParse(pod["metadata"]?["annotations"]?[IndexAnnotation]?.GetValue<string>(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var i) ? i : null;

    private static string? Phase(JsonObject pod) => pod["status"]?["phase"]?.GetValue<string>();

    private static string Stamp(DateTime t) => t.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
}
