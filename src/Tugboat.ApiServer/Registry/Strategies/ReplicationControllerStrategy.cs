using System.Text.Json.Nodes;
using Tugboat.Api.Meta;

namespace Tugboat.ApiServer.Registry.Strategies;

/// <summary>core/v1 ReplicationController: a map selector that defaults to the template's labels.</summary>
internal sealed class ReplicationControllerStrategy : WorkloadStrategy
{
    public override IReadOnlyList<Column> Columns { get; } =
    [
        Column.Name_(),
        Column.Int("Desired", "Number of desired pods.", o => Cells.Int(o, "spec", "replicas")),
        Column.Int("Current", "Number of actual running pods.", o => Cells.Int(o, "status", "replicas")),
        Column.Int("Ready", "Number of ready pods.", o => Cells.Int(o, "status", "readyReplicas")),
        Column.Age(),
        Containers(),
        Images(),
        Column.Text("Selector", "The label selector of the controller's pods.", o => Cells.MapText(o.Obj("spec", "selector")), 1),
    ];

    public override void Default(JsonObject obj)
    {
        var spec = obj.Ensure("spec");
        if (spec["selector"] is null && spec.Obj("template", "metadata", "labels") is { } labels)
        {
            spec["selector"] = labels.DeepClone();
        }
        if (obj.Obj("metadata", "labels") is null && spec.Obj("template", "metadata", "labels") is { } l)
        {
            obj.Meta()["labels"] = l.DeepClone();
        }
        spec.Default("replicas", 1);
        if (spec.Obj("template", "spec") is { } podSpec)
        {
            PodSpecs.Default(podSpec);
        }
    }

    public override void Validate(JsonObject obj, List<FieldError> errors)
    {
        var spec = obj.Obj("spec");
        var selector = spec.Obj("selector");
        if (selector is not { Count: > 0 })
        {
            errors.Add(FieldError.Required("spec.selector"));
        }
        else if (!LabelSelector.FromJson(new JsonObject { ["matchLabels"] = selector.DeepClone() }).Matches(spec.At("template").Labels()))
        {
            errors.Add(FieldError.Invalid("spec.template.metadata.labels", spec.Obj("template", "metadata", "labels")?.DeepClone(), "`selector` does not match template `labels`"));
        }
        PodSpecs.Validate(spec.At("template", "spec"), "spec.template.spec", errors);
    }

    public override void ValidateUpdate(JsonObject obj, JsonObject old, List<FieldError> errors)
    {
    }
}
