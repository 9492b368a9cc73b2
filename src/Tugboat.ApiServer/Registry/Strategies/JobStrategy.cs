using System.Globalization;
using System.Text.Json.Nodes;

namespace Tugboat.ApiServer.Registry.Strategies;

internal sealed class JobStrategy : Strategy
{
    public override bool TracksGeneration => true;

    public override IReadOnlyList<Column> Columns { get; } =
    [
        Column.Name_(),
        Column.Text("Status", "Status of the job.", Status),
        Column.Text("Completions", "The desired number of successfully finished pods the job should be run with.", Completions),
        Column.Text("Duration", "Time required to complete the job.", Duration),
        Column.Age(),
        Column.Text("Containers", "Names of each container in the template.", o => Cells.Containers(o.At("spec", "template", "spec")), 1),
        Column.Text("Images", "Images referenced by each container in the template.", o => Cells.Images(o.At("spec", "template", "spec")), 1),
        Column.Text("Selector", "Query over pods that should match the pod count.", o => Cells.Selector(o.At("spec", "selector")), 1),
    ];

    public override IReadOnlyCollection<string> SelectableFields { get; } = ["status.successful"];

    public override string? GetField(JsonObject obj, string field) =>
        field == "status.successful" ? (obj.Long("status", "succeeded") ?? 0).ToString(CultureInfo.InvariantCulture) : null;

    public override void PrepareForCreate(JsonObject obj, RequestContext ctx)
    {
        obj["status"] = new JsonObject();
        var spec = obj.Ensure("spec");
        // Upstream generates the selector from the job's uid unless the user asked for a manual one.
        if (spec.Bool("manualSelector") != true)
        {
            var uid = obj.Str("metadata", "uid")!;
            var name = obj.Str("metadata", "name")!;
            spec["selector"] = new JsonObject { ["matchLabels"] = new JsonObject { ["batch.kubernetes.io/controller-uid"] = uid } };
            var labels = spec.Ensure("template").Ensure("metadata").Ensure("labels");
            labels["batch.kubernetes.io/controller-uid"] = uid;
            labels["batch.kubernetes.io/job-name"] = name;
            labels["controller-uid"] = uid;
            labels["job-name"] = name;
        }
    }

    public override void Default(JsonObject obj)
    {
        var spec = obj.Ensure("spec");
        if (spec["completions"] is null && spec["parallelism"] is null)
        {
            spec["completions"] = 1;
        }
        spec.Default("parallelism", 1);
        spec.Default("backoffLimit", 6);
        spec.Default("completionMode", "NonIndexed");
        spec.Default("suspend", false);
        spec.Default("podReplacementPolicy", "TerminatingOrFailed");
        if (spec.Obj("template") is { } template)
        {
            template.Ensure("metadata").Default("creationTimestamp", null);
            if (template.Obj("spec") is { } podSpec)
            {
                PodSpecs.Default(podSpec);
            }
        }
    }

    public override void Validate(JsonObject obj, List<FieldError> errors)
    {
        var spec = obj.Obj("spec");
        WorkloadStrategy.ValidateSelectorAndTemplate(spec, errors);
        var rp = spec.Str("template", "spec", "restartPolicy");
        if (rp is not ("OnFailure" or "Never"))
        {
            errors.Add(rp is null
                ? FieldError.Required("spec.template.spec.restartPolicy", "valid values: \"OnFailure\", \"Never\"")
                : FieldError.NotSupported("spec.template.spec.restartPolicy", rp, ["OnFailure", "Never"]));
        }
        foreach (var f in new[] { "parallelism", "completions", "backoffLimit" })
        {
            if (spec.Long(f) is < 0)
            {
                errors.Add(FieldError.Invalid("spec." + f, spec.Long(f)!.Value, "must be greater than or equal to 0"));
            }
        }
        if (spec.Long("activeDeadlineSeconds") is <= 0)
        {
            errors.Add(FieldError.Invalid("spec.activeDeadlineSeconds", spec.Long("activeDeadlineSeconds")!.Value, "must be greater than or equal to 0"));
        }
        var mode = spec.Str("completionMode");
        if (mode is not (null or "NonIndexed" or "Indexed"))
        {
            errors.Add(FieldError.NotSupported("spec.completionMode", mode, ["NonIndexed", "Indexed"]));
        }
        if (mode == "Indexed" && spec?["completions"] is null)
        {
            errors.Add(FieldError.Required("spec.completions", "when completion mode is Indexed"));
        }
    }

    public override void ValidateUpdate(JsonObject obj, JsonObject old, List<FieldError> errors)
    {
        foreach (var f in new[] { "selector", "template", "completionMode" })
        {
            if (!JsonNode.DeepEquals(obj.At("spec", f), old.At("spec", f)))
            {
                errors.Add(FieldError.Invalid("spec." + f, obj.At("spec", f)?.DeepClone(), "field is immutable"));
            }
        }
    }

    private static string Status(JsonObject o)
    {
        var conditions = o.Arr("status", "conditions").Objects().Where(c => c.Str("status") == "True").Select(c => c.Str("type")).ToList();
        if (conditions.Contains("Complete"))
        {
            return "Complete";
        }
        if (conditions.Contains("Failed"))
        {
            return "Failed";
        }
        if (o.Str("metadata", "deletionTimestamp") is not null)
        {
            return "Terminating";
        }
        if (conditions.Contains("SuccessCriteriaMet"))
        {
            return "SuccessCriteriaMet";
        }
        if (conditions.Contains("FailureTarget"))
        {
            return "FailureTarget";
        }
        if (o.Bool("spec", "suspend") == true || conditions.Contains("Suspended"))
        {
            return "Suspended";
        }
        return "Running";
    }

    private static string Completions(JsonObject o)
    {
        var succeeded = o.Long("status", "succeeded") ?? 0;
        var completions = o.Long("spec", "completions");
        if (completions is not null)
        {
            return $"{succeeded}/{completions}";
        }
        var parallelism = o.Long("spec", "parallelism") ?? 0;
        return parallelism > 1 ? $"{succeeded}/1 of {parallelism}" : $"{succeeded}/1";
    }

    private static string Duration(JsonObject o)
    {
        var start = o.Str("status", "startTime");
        if (start is null || !DateTimeOffset.TryParse(start, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var s))
        {
            return string.Empty;
        }
        var end = o.Str("status", "completionTime") is { } c && DateTimeOffset.TryParse(c, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var e) ? e : DateTimeOffset.UtcNow;
        return Cells.HumanDuration(end - s);
    }
}
