using System.Globalization;
using System.Text.Json.Nodes;
using Tugboat.Api.Meta;

namespace Tugboat.ApiServer.Registry.Strategies;

/// <summary>What the apps/v1 workload kinds share: a selector that must match the pod template, an immutable selector, and a reset status on create.</summary>
internal abstract class WorkloadStrategy : Strategy
{
    public override bool TracksGeneration => true;

    protected virtual bool HasReplicas => true;

    public override void PrepareForCreate(JsonObject obj, RequestContext ctx) => obj["status"] = new JsonObject();

    public override void Default(JsonObject obj)
    {
        var spec = obj.Ensure("spec");
        if (HasReplicas)
        {
            spec.Default("replicas", 1);
        }
        spec.Default("revisionHistoryLimit", 10);
        if (spec.Obj("template", "spec") is { } podSpec)
        {
            PodSpecs.Default(podSpec);
        }
        if (spec.Obj("template") is { } template)
        {
            template.Ensure("metadata").Default("creationTimestamp", null);
        }
    }

    public override void Validate(JsonObject obj, List<FieldError> errors)
    {
        var spec = obj.Obj("spec");
        if (HasReplicas && spec.Long("replicas") is < 0)
        {
            errors.Add(FieldError.Invalid("spec.replicas", spec.Long("replicas")!.Value, "must be greater than or equal to 0"));
        }
        ValidateSelectorAndTemplate(spec, errors);
        if (spec.Long("revisionHistoryLimit") is < 0)
        {
            errors.Add(FieldError.Invalid("spec.revisionHistoryLimit", spec.Long("revisionHistoryLimit")!.Value, "must be greater than or equal to 0"));
        }
    }

    public static void ValidateSelectorAndTemplate(JsonObject? spec, List<FieldError> errors, string path = "spec")
    {
        var selector = spec?["selector"] as JsonObject;
        if (selector is null)
        {
            errors.Add(FieldError.Required(path + ".selector"));
        }
        else if (selector.Obj("matchLabels") is not { Count: > 0 } && selector.Arr("matchExpressions") is not { Count: > 0 })
        {
            errors.Add(FieldError.Invalid(path + ".selector", selector.DeepClone(), "empty selector is invalid for deployment"));
        }
        if (spec?["template"] is not JsonObject template)
        {
            errors.Add(FieldError.Required(path + ".template"));
            return;
        }
        var labels = template.Labels();
        if (selector is not null)
        {
            LabelSelector parsed;
            try
            {
                parsed = LabelSelector.FromJson(selector);
            }
            catch (FormatException e)
            {
                errors.Add(FieldError.Invalid(path + ".selector", selector.DeepClone(), e.Message));
                return;
            }
            if (!parsed.IsEmpty && !parsed.Matches(labels))
            {
                errors.Add(FieldError.Invalid(path + ".template.metadata.labels", template.Obj("metadata", "labels")?.DeepClone(), "`selector` does not match template `labels`"));
            }
        }
        PodSpecs.Validate(template["spec"], path + ".template.spec", errors);
    }

    public override void ValidateUpdate(JsonObject obj, JsonObject old, List<FieldError> errors)
    {
        if (!JsonNode.DeepEquals(obj.At("spec", "selector"), old.At("spec", "selector")))
        {
            errors.Add(FieldError.Invalid("spec.selector", obj.At("spec", "selector")?.DeepClone(), "field is immutable"));
        }
    }

    protected static string Ratio(JsonObject o, string numerator, string denominator) =>
        $"{Cells.Int(o, "status", numerator)}/{Cells.Int(o, "spec", denominator)}";

    protected static Column Containers() => Column.Text("Containers", "Names of each container in the template.", o => Cells.Containers(o.At("spec", "template", "spec")), 1);

    protected static Column Images() => Column.Text("Images", "Images referenced by each container in the template.", o => Cells.Images(o.At("spec", "template", "spec")), 1);

    protected static Column Selector() => Column.Text("Selector", "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.", o => Cells.Selector(o.At("spec", "selector")), 1);

    protected static string Num(long value) => value.ToString(CultureInfo.InvariantCulture);
}
