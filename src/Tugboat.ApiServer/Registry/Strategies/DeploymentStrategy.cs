using System.Text.Json.Nodes;

namespace Tugboat.ApiServer.Registry.Strategies;

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

    internal static bool IsZero(JsonNode? n) => n?.ToString() is "0" or "0%";
}
