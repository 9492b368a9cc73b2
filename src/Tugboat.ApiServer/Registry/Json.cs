using System.Text.Json;
using System.Text.Json.Nodes;
using Tugboat.Api.Serialization;

namespace Tugboat.ApiServer.Registry;

/// <summary>Small helpers for working with unstructured objects.</summary>
internal static class Json
{
    public static string? Str(this JsonNode? node, params string[] path)
    {
        var n = node.At(path);
        return n is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : null;
    }

    public static long? Long(this JsonNode? node, params string[] path)
    {
        var n = node.At(path);
        if (n is JsonValue v && v.GetValueKind() == JsonValueKind.Number)
        {
            if (v.TryGetValue<long>(out var l))
            {
                return l;
            }
            if (v.TryGetValue<int>(out var i))
            {
                return i;
            }
            if (v.TryGetValue<double>(out var d))
            {
                return (long)d;
            }
            return double.TryParse(v.ToJsonString(JsonLimits.Writer), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var parsed) ? (long)parsed : null;
        }
        return null;
    }

    public static bool? Bool(this JsonNode? node, params string[] path)
    {
        var n = node.At(path);
        return n is JsonValue v && v.GetValueKind() is JsonValueKind.True or JsonValueKind.False ? v.GetValue<bool>() : null;
    }

    public static JsonNode? At(this JsonNode? node, params string[] path)
    {
        foreach (var p in path)
        {
            node = node is JsonObject o ? o[p] : null;
            if (node is null)
            {
                return null;
            }
        }
        return node;
    }

    public static JsonObject? Obj(this JsonNode? node, params string[] path) => node.At(path) as JsonObject;

    public static JsonArray? Arr(this JsonNode? node, params string[] path) => node.At(path) as JsonArray;

    /// <summary>The object at <paramref name="name"/>, created when missing (or when not an object).</summary>
    public static JsonObject Ensure(this JsonObject node, string name)
    {
        if (node[name] is JsonObject o)
        {
            return o;
        }
        o = new JsonObject();
        node[name] = o;
        return o;
    }

    /// <summary>Sets <paramref name="name"/> only when it is absent or null.</summary>
    public static void Default(this JsonObject node, string name, JsonNode? value)
    {
        if (node[name] is null)
        {
            node[name] = value;
        }
    }

    public static JsonObject Meta(this JsonObject obj) => obj.Ensure("metadata");

    public static IReadOnlyDictionary<string, string> Labels(this JsonNode? obj) => StringMap(obj.Obj("metadata", "labels"));

    public static Dictionary<string, string> StringMap(JsonObject? map)
    {
        var d = new Dictionary<string, string>(StringComparer.Ordinal);
        if (map is null)
        {
            return d;
        }
        foreach (var (k, v) in map)
        {
            d[k] = v is JsonValue jv && jv.GetValueKind() == JsonValueKind.String ? jv.GetValue<string>() : v?.ToJsonString(JsonLimits.Writer) ?? string.Empty;
        }
        return d;
    }

    public static IEnumerable<JsonObject> Objects(this JsonArray? array) => array?.OfType<JsonObject>() ?? [];
}
