using System.Text.Json.Nodes;

namespace Tugboat.ApiServer.Registry.Strategies;

internal sealed class CronJobStrategy : Strategy
{
    private static readonly string[] Macros = ["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"];

    public override bool TracksGeneration => true;

    public override IReadOnlyList<Column> Columns { get; } =
    [
        Column.Name_(),
        Column.Text("Schedule", "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron.", o => o.Str("spec", "schedule") ?? string.Empty),
        Column.Text("Timezone", "The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones. If not specified, this will default to the time zone of the kube-controller-manager process. The set of valid time zone names and the time zone offset is loaded from the system-wide time zone database by the API server during CronJob validation and the controller manager during execution. If no system-wide time zone database can be found a bundled version of the database is used instead. If the time zone name becomes invalid during the lifetime of a CronJob or due to a change in host configuration, the controller will stop creating new new Jobs and will create a system event with the reason UnknownTimeZone. More information can be found in https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/#time-zones", o => o.Str("spec", "timeZone") ?? Cells.None),
        Column.Text("Suspend", "This flag tells the controller to suspend subsequent executions, it does not apply to already started executions.  Defaults to false.", o => (o.Bool("spec", "suspend") ?? false) ? "True" : "False"),
        Column.Int("Active", "A list of pointers to currently running jobs.", o => (long)(o.Arr("status", "active")?.Count ?? 0)),
        new("Last Schedule", "string", string.Empty, "Information when was the last time the job was successfully scheduled.", 0, (o, now) => o.Str("status", "lastScheduleTime") is { } t ? Cells.Age(t, now) : Cells.None),
        Column.Age(),
        Column.Text("Containers", "Names of each container in the template.", o => Cells.Containers(o.At("spec", "jobTemplate", "spec", "template", "spec")), 1),
        Column.Text("Images", "Images referenced by each container in the template.", o => Cells.Images(o.At("spec", "jobTemplate", "spec", "template", "spec")), 1),
        Column.Text("Selector", "Query over pods that should match the pod count.", o => Cells.Selector(o.At("spec", "jobTemplate", "spec", "selector")), 1),
    ];

    public override void PrepareForCreate(JsonObject obj, RequestContext ctx) => obj["status"] = new JsonObject();

    public override void Default(JsonObject obj)
    {
        var spec = obj.Ensure("spec");
        spec.Default("concurrencyPolicy", "Allow");
        spec.Default("suspend", false);
        spec.Default("successfulJobsHistoryLimit", 3);
        spec.Default("failedJobsHistoryLimit", 1);
        if (spec.Obj("jobTemplate", "spec", "template", "spec") is { } podSpec)
        {
            PodSpecs.Default(podSpec);
        }
        if (spec.Obj("jobTemplate", "spec", "template") is { } template)
        {
            template.Ensure("metadata").Default("creationTimestamp", null);
        }
        if (spec.Obj("jobTemplate") is { } jt)
        {
            jt.Ensure("metadata").Default("creationTimestamp", null);
        }
    }

    public override void Validate(JsonObject obj, List<FieldError> errors)
    {
        var spec = obj.Obj("spec");
        var schedule = spec.Str("schedule");
        if (string.IsNullOrEmpty(schedule))
        {
            errors.Add(FieldError.Required("spec.schedule"));
        }
        else if (ScheduleError(schedule) is { } error)
        {
            errors.Add(FieldError.Invalid("spec.schedule", schedule, error));
        }
        if (spec.Str("timeZone") is { } tz && !TimeZoneInfo.TryFindSystemTimeZoneById(tz, out _))
        {
            errors.Add(FieldError.Invalid("spec.timeZone", tz, "unknown time zone " + tz));
        }
        var policy = spec.Str("concurrencyPolicy");
        if (policy is not (null or "Allow" or "Forbid" or "Replace"))
        {
            errors.Add(FieldError.NotSupported("spec.concurrencyPolicy", policy, ["Allow", "Forbid", "Replace"]));
        }
        var template = spec.Obj("jobTemplate", "spec", "template");
        if (template is null)
        {
            errors.Add(FieldError.Required("spec.jobTemplate.spec.template"));
            return;
        }
        PodSpecs.Validate(template["spec"], "spec.jobTemplate.spec.template.spec", errors);
        var rp = template.Str("spec", "restartPolicy");
        if (rp is not ("OnFailure" or "Never"))
        {
            errors.Add(rp is null
                ? FieldError.Required("spec.jobTemplate.spec.template.spec.restartPolicy", "valid values: \"OnFailure\", \"Never\"")
                : FieldError.NotSupported("spec.jobTemplate.spec.template.spec.restartPolicy", rp, ["OnFailure", "Never"]));
        }
    }

    /// <summary>Checks a standard five-field cron expression or a macro; returns upstream-style text on error.</summary>
    internal static string? ScheduleError(string schedule)
    {
        var s = schedule.Trim();
        if (s.StartsWith("TZ=", StringComparison.Ordinal) || s.StartsWith("CRON_TZ=", StringComparison.Ordinal))
        {
            return "cannot use TZ or CRON_TZ in schedule, use timeZone field instead";
        }
        if (s.StartsWith('@'))
        {
            return Macros.Contains(s) || s.StartsWith("@every ", StringComparison.Ordinal) ? null : $"unrecognized descriptor: {s}";
        }
        var fields = s.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length != 5)
        {
            return $"expected exactly 5 fields, found {fields.Length}: [{string.Join(" ", fields)}]";
        }
        (int Min, int Max)[] ranges = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)];
        for (var i = 0; i < 5; i++)
        {
            foreach (var part in fields[i].Split(','))
            {
                if (!ValidPart(part, ranges[i].Min, ranges[i].Max, i))
                {
                    return $"failed to parse int from {part}: strconv.Atoi: parsing \"{part}\": invalid syntax";
                }
            }
        }
        return null;
    }

    private static bool ValidPart(string part, int min, int max, int field)
    {
        var step = part.Split('/');
        if (step.Length > 2 || (step.Length == 2 && !int.TryParse(step[1], out _)))
        {
            return false;
        }
        var range = step[0];
        if (range is "*" or "?")
        {
            return true;
        }
        foreach (var bound in range.Split('-'))
        {
            if (int.TryParse(bound, out var v))
            {
                if (v < min || v > max)
                {
                    return false;
                }
            }
            else if (!(field == 3 && bound.Length == 3) && !(field == 4 && bound.Length == 3))
            {
                return false;
            }
        }
        return true;
    }
}
