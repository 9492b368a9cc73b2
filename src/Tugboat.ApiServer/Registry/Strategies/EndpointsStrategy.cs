using System.Text.Json.Nodes;

namespace Tugboat.ApiServer.Registry.Strategies;

internal sealed class EndpointsStrategy : Strategy
{
    public override bool AllowCreateOnUpdate => true;

    public override IReadOnlyList<Column> Columns { get; } =
    [
        Column.Name_(),
        Column.Text("Endpoints", "Endpoints of the service", Endpoints),
        Column.Age(),
    ];

    /// <summary>kubectl's "10.42.0.5:80,10.42.0.6:80 + 1 more..." form: at most three endpoints shown.</summary>
    private static string Endpoints(JsonObject ep)
    {
        var all = new List<string>();
        foreach (var subset in ep.Arr("subsets").Objects())
        {
            var ports = subset.Arr("ports").Objects().Select(p => p.Long("port")).ToList();
            foreach (var a in subset.Arr("addresses").Objects())
            {
                var ip = a.Str("ip") ?? string.Empty;
                if (ports.Count == 0)
                {
                    all.Add(ip);
                }
                else
                {
                    all.AddRange(ports.Select(p => $"{ip}:{p}"));
                }
            }
        }
        if (all.Count == 0)
        {
            return Cells.None;
        }
        var shown = string.Join(",", all.Take(3));
        return all.Count > 3 ? $"{shown} + {all.Count - 3} more..." : shown;
    }
}
