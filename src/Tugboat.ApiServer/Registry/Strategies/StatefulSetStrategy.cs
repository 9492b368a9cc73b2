using System.Text.Json.Nodes;

namespace Tugboat.ApiServer.Registry.Strategies;

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
        foreach (var when in (string[])["whenDeleted", "whenScaled"])
        {
            var retention = obj.Str("spec", "persistentVolumeClaimRetentionPolicy", when);
            if (retention is not (null or "Retain" or "Delete"))
            {
                errors.Add(FieldError.NotSupported($"spec.persistentVolumeClaimRetentionPolicy.{when}", retention, ["Delete", "Retain"]));
            }
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
