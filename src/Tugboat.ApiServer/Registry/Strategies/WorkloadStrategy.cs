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

internal sealed class DeploymentStrategy : WorkloadStrategy
{
    public override IReadOnlyList<Column> Columns { get; } =
    [
        Column.Name_(),
        Column.Text("Ready", "Number of the pod with ready state", o => Ratio(o, "readyReplicas", "replicas")),
        Column.Int("Up-to-date", "Total number of non-terminated pods targeted by this deployment that have the desired template spec.", o => Cells.Int(o, "status", "updatedReplicas")),
        Column.Int("Available", "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.", o => Cells.Int(o, "status", "availableReplicas")),
        Column.Age(),
        Containers(),
        Images(),
        Selector(),
    ];

    public override void Default(JsonObject obj)
    {
        base.Default(obj);
        var spec = obj.Ensure("spec");
        spec.Default("progressDeadlineSeconds", 600);
        var strategy = spec.Ensure("strategy");
        strategy.Default("type", "RollingUpdate");
        if (strategy.Str("type") == "RollingUpdate")
        {
            var ru = strategy.Ensure("rollingUpdate");
            ru.Default("maxUnavailable", "25%");
            ru.Default("maxSurge", "25%");
        }
    }

    public override void Validate(JsonObject obj, List<FieldError> errors)
    {
        base.Validate(obj, errors);
        var type = obj.Str("spec", "strategy", "type");
        if (type is not (null or "RollingUpdate" or "Recreate"))
        {
            errors.Add(FieldError.NotSupported("spec.strategy.type", type, ["Recreate", "RollingUpdate"]));
        }
        if (type == "Recreate" && obj.At("spec", "strategy", "rollingUpdate") is not null)
        {
            errors.Add(FieldError.Forbidden("spec.strategy.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'"));
        }
        var ru = obj.Obj("spec", "strategy", "rollingUpdate");
        if (ru is not null && IsZero(ru["maxUnavailable"]) && IsZero(ru["maxSurge"]))
        {
            errors.Add(FieldError.Invalid("spec.strategy.rollingUpdate.maxUnavailable", ru["maxUnavailable"]?.DeepClone(), "may not be 0 when `maxSurge` is 0"));
        }
    }

    private static bool IsZero(JsonNode? n) => n?.ToString() is "0" or "0%";
}

internal sealed class ReplicaSetStrategy : WorkloadStrategy
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
        Selector(),
    ];
}

internal sealed class StatefulSetStrategy : WorkloadStrategy
{
    public override IReadOnlyList<Column> Columns { get; } =
    [
        Column.Name_(),
        Column.Text("Ready", "Number of the pod with ready state", o => Ratio(o, "readyReplicas", "replicas")),
        Column.Age(),
        Containers(),
        Images(),
    ];

    public override void Default(JsonObject obj)
    {
        base.Default(obj);
        var spec = obj.Ensure("spec");
        spec.Default("podManagementPolicy", "OrderedReady");
        var update = spec.Ensure("updateStrategy");
        update.Default("type", "RollingUpdate");
        if (update.Str("type") == "RollingUpdate")
        {
            update.Ensure("rollingUpdate").Default("partition", 0);
        }
        var retention = spec.Ensure("persistentVolumeClaimRetentionPolicy");
        retention.Default("whenDeleted", "Retain");
        retention.Default("whenScaled", "Retain");
    }

    public override void Validate(JsonObject obj, List<FieldError> errors)
    {
        base.Validate(obj, errors);
        var policy = obj.Str("spec", "podManagementPolicy");
        if (policy is not (null or "OrderedReady" or "Parallel"))
        {
            errors.Add(FieldError.NotSupported("spec.podManagementPolicy", policy, ["OrderedReady", "Parallel"]));
        }
        var type = obj.Str("spec", "updateStrategy", "type");
        if (type is not (null or "RollingUpdate" or "OnDelete"))
        {
            errors.Add(FieldError.NotSupported("spec.updateStrategy.type", type, ["OnDelete", "RollingUpdate"]));
        }
    }

    public override void ValidateUpdate(JsonObject obj, JsonObject old, List<FieldError> errors)
    {
        // Upstream: only replicas, ordinals, template, updateStrategy, persistentVolumeClaimRetentionPolicy and minReadySeconds may change.
        var a = obj.Obj("spec")?.DeepClone() as JsonObject ?? [];
        var b = old.Obj("spec")?.DeepClone() as JsonObject ?? [];
        foreach (var mutable in new[] { "replicas", "ordinals", "template", "updateStrategy", "persistentVolumeClaimRetentionPolicy", "minReadySeconds" })
        {
            a.Remove(mutable);
            b.Remove(mutable);
        }
        if (!JsonNode.DeepEquals(a, b))
        {
            errors.Add(FieldError.Forbidden("spec", "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"));
        }
    }
}

internal sealed class DaemonSetStrategy : WorkloadStrategy
{
    protected override bool HasReplicas => false;

    public override IReadOnlyList<Column> Columns { get; } =
    [
        Column.Name_(),
        Column.Int("Desired", "The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod).", o => Cells.Int(o, "status", "desiredNumberScheduled")),
        Column.Int("Current", "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod.", o => Cells.Int(o, "status", "currentNumberScheduled")),
        Column.Int("Ready", "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready.", o => Cells.Int(o, "status", "numberReady")),
        Column.Int("Up-to-date", "The total number of nodes that are running updated daemon pod", o => Cells.Int(o, "status", "updatedNumberScheduled")),
        Column.Int("Available", "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)", o => Cells.Int(o, "status", "numberAvailable")),
        Column.Text("Node Selector", "NodeSelector is a selector which must be true for the pod to fit on a node. Selector which must match a node's labels for the pod to be scheduled on that node. More info: https://kubernetes.io/docs/concepts/configuration/assign-pod-node/", o => Cells.MapText(o.Obj("spec", "template", "spec", "nodeSelector"))),
        Column.Age(),
        Containers(),
        Images(),
        Selector(),
    ];

    public override void Default(JsonObject obj)
    {
        base.Default(obj);
        var update = obj.Ensure("spec").Ensure("updateStrategy");
        update.Default("type", "RollingUpdate");
        if (update.Str("type") == "RollingUpdate")
        {
            var ru = update.Ensure("rollingUpdate");
            ru.Default("maxUnavailable", 1);
            ru.Default("maxSurge", 0);
        }
    }

    public override void Validate(JsonObject obj, List<FieldError> errors)
    {
        base.Validate(obj, errors);
        var rp = obj.Str("spec", "template", "spec", "restartPolicy");
        if (rp is not (null or "Always"))
        {
            errors.Add(FieldError.NotSupported("spec.template.spec.restartPolicy", rp, ["Always"]));
        }
    }
}
