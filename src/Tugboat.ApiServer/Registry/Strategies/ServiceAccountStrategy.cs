using System.Globalization;
using System.Text.Json.Nodes;

namespace Tugboat.ApiServer.Registry.Strategies;

internal sealed class ServiceAccountStrategy : Strategy
{
    public override IReadOnlyList<Column> Columns { get; } =
    [
        Column.Name_(),
        Column.Text("Secrets", "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.", o => (o.Arr("secrets")?.Count ?? 0).ToString(CultureInfo.InvariantCulture)),
        Column.Age(),
    ];
}
