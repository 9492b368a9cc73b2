using System.Text.Json.Nodes;

namespace Tugboat.ApiServer.Registry.Strategies;

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
        var ru = obj.Obj("spec", "updateStrategy", "rollingUpdate");
        if (ru is not null && DeploymentStrategy.IsZero(ru["maxUnavailable"]) && DeploymentStrategy.IsZero(ru["maxSurge"]))
        {
            errors.Add(FieldError.Invalid("spec.updateStrategy.rollingUpdate.maxUnavailable", ru["maxUnavailable"]?.DeepClone(), "may not be 0 when `maxSurge` is 0"));
        }
    }
}
