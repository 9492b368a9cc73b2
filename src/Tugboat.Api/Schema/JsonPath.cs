using System.Text.Json;
using System.Text.Json.Nodes;
using Tugboat.Api.Serialization;

namespace Tugboat.Api.Schema;

/// <summary>
/// The subset of kubectl's JSONPath that printer columns use: <c>.a.b</c>, <c>.a[0]</c>, <c>.a[*].b</c>,
/// <c>.a[?(@.type=="Ready")].status</c>. Results are the matched values, in order.
/// </summary>
public static class JsonPath
{
    public static List<JsonNode?> Select(JsonNode? root, string path)
    {
        var current = new List<JsonNode?> { root };
        var p = path.Trim();
        if (p.StartsWith('{') && p.EndsWith('}'))
        {
            p = p[1..^1];
        }
        var i = 0;
        while (i < p.Length)
        {
            if (p[i] == '.')
            {
                i++;
                var start = i;
                while (i < p.Length && p[i] != '.' && p[i] != '[')
                {
                    i++;
                }
                var name = p[start..i];
                if (name.Length > 0)
                {
                    current = current.Select(n => n is JsonObject o ? o[name] : null).Where(n => n is not null).ToList();
                }
            }
            else if (p[i] == '[')
            {
                var end = p.IndexOf(']', i);
                if (end < 0)
                {
                    throw new FormatException($"unterminated [ in JSONPath {path}");
                }
                var inner = p[(i + 1)..end];
                i = end + 1;
                current = inner switch
                {
                    "*" => current.SelectMany(n => n is JsonArray a ? a : n is JsonObject o ? o.Select(kv => kv.Value) : []).ToList(),
                    _ when int.TryParse(inner, out var index) => current.Select(n => n is JsonArray a && index >= 0 && index < a.Count ? a[index] : null).Where(n => n is not null).ToList(),
                    _ when inner.StartsWith("?(@.", StringComparison.Ordinal) && inner.EndsWith(')') => Filter(current, inner[4..^1]),
                    _ => throw new FormatException($"unsupported JSONPath element [{inner}] in {path}"),
                };
            }
            else
            {
                throw new FormatException($"unexpected '{p[i]}' in JSONPath {path}");
            }
        }
        return current;
    }

    private static List<JsonNode?> Filter(List<JsonNode?> current, string condition)
    {
        var eq = condition.IndexOf("==", StringComparison.Ordinal);
        if (eq < 0)
        {
            throw new FormatException($"unsupported JSONPath filter {condition}");
        }
        var field = condition[..eq].Trim();
        var expected = condition[(eq + 2)..].Trim().Trim('"', '\'');
        return current.SelectMany(n => n is JsonArray a ? a : [])
            .Where(item => item is JsonObject o && o[field] is JsonValue v && (v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : v.ToJsonString(JsonLimits.Writer)) == expected)
            .ToList();
    }
}
