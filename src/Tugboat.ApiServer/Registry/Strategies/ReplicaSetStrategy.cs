using System.Text.Json.Nodes;

namespace Tugboat.ApiServer.Registry.Strategies;

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
