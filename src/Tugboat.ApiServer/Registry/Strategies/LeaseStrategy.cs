using System.Text.Json.Nodes;

namespace Tugboat.ApiServer.Registry.Strategies;

internal sealed class LeaseStrategy : Strategy
{
    public override IReadOnlyList<Column> Columns { get; } =
    [
        Column.Name_(),
        Column.Text("Holder", "The holder of the lease", o => o.Str("spec", "holderIdentity") ?? string.Empty),
        Column.Age(),
    ];
}
