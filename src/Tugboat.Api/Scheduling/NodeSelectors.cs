using System.Globalization;
using System.Text.Json.Nodes;

namespace Tugboat.Api.Scheduling;

/// <summary>Node selector terms (node affinity) as upstream's component helpers match them against a node's labels and name.</summary>
public static class NodeSelectors
{
    /// <summary>Whether a node selector term (matchExpressions and matchFields, all of them) matches the node.</summary>
    public static bool Matches(JsonObject term, IReadOnlyDictionary<string, string> labels, string nodeName)
    {
        var expressions = term["matchExpressions"] as JsonArray;
        var fields = term["matchFields"] as JsonArray;
        if (expressions is not { Count: > 0 } && fields is not { Count: > 0 })
        {
            // An empty term matches nothing, as upstream.
            return false;
        }
        foreach (var r in expressions?.OfType<JsonObject>() ?? [])
        {
            if (!Requirement(r, labels.TryGetValue(r["key"]?.GetValue<string>() ?? string.Empty, out var v) ? v : null))
            {
                return false;
            }
        }
        foreach (var r in fields?.OfType<JsonObject>() ?? [])
        {
            if (r["key"]?.GetValue<string>() != "metadata.name" || !Requirement(r, nodeName))
            {
                return false;
            }
        }
        return true;
    }

    private static bool Requirement(JsonObject r, string? value)
    {
        var values = r["values"]?.AsArray().Select(v => v?.ToString() ?? string.Empty).ToList() ?? [];
        return r["operator"]?.GetValue<string>() switch
        {
            "In" => value is not null && values.Contains(value),
            "NotIn" => value is null || !values.Contains(value),
            "Exists" => value is not null,
            "DoesNotExist" => value is null,
            "Gt" => value is not null && values.Count == 1 && long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var a) && long.TryParse(values[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out var b) && a > b,
            "Lt" => value is not null && values.Count == 1 && long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var c) && long.TryParse(values[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out var d) && c < d,
            _ => false,
        };
    }
}
