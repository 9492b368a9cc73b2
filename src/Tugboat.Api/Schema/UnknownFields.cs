using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json.Nodes;
using Tugboat.Api.Protobuf;

namespace Tugboat.Api.Schema;

/// <summary>
/// Finds and removes the fields of a built-in object that its kind does not define — what upstream's decoding into Go
/// structs does. The known fields are those of the kind's protobuf message (the same names as in JSON), which covers
/// every field up to the API version the schema table was extracted from.
/// </summary>
public static class UnknownFields
{
    /// <summary>Values that are leaves in JSON although protobuf gives them structure.</summary>
    private static readonly HashSet<string> Leaves = new(StringComparer.Ordinal)
    {
        "k8s.io.apimachinery.pkg.apis.meta.v1.Time",
        "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime",
        "k8s.io.apimachinery.pkg.apis.meta.v1.Duration",
        "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1",
        "k8s.io.apimachinery.pkg.util.intstr.IntOrString",
        "k8s.io.apimachinery.pkg.api.resource.Quantity",
        "k8s.io.apimachinery.pkg.runtime.RawExtension",
    };

    /// <summary>What the walk needs of a field: whether it is a map or repeated, and the message its values are (null: leaves).</summary>
    private sealed record Known(bool IsMap, bool Repeated, string? Child);

    private static readonly ConcurrentDictionary<string, Dictionary<string, Known>> ByName = new(StringComparer.Ordinal);

    /// <summary>
    /// Removes unknown fields from <paramref name="obj"/> in place and returns their paths (such as
    /// <c>spec.template.spec.containers[0].foo</c>); returns nothing for kinds the schema does not know.
    /// </summary>
    public static List<string> Prune(JsonObject obj, string apiVersion, string kind)
    {
        var found = new List<string>();
        var message = KubeProtobuf.MessageName(apiVersion, kind);
        if (ProtoSchema.Instance.TryGetMessage(message, out _))
        {
            Walk(obj, message, null, found, topLevel: true);
        }
        return found;
    }

    /// <summary>Where a value sits, spelled out only for the (rare) unknown field.</summary>
    private sealed class Segment(Segment? parent, string? name, string? key, int index)
    {
        public override string ToString()
        {
            var prefix = parent?.ToString();
            if (name is not null)
            {
                return prefix is null ? name : prefix + "." + name;
            }
            return prefix + "[" + (key ?? index.ToString(CultureInfo.InvariantCulture)) + "]";
        }
    }

    private static void Walk(JsonObject obj, string message, Segment? path, List<string> found, bool topLevel = false)
    {
        var fields = Fields(message);
        List<string>? unknown = null;
        foreach (var (name, value) in obj)
        {
            if (topLevel && name is "apiVersion" or "kind")
            {
                continue;
            }
            if (!fields.TryGetValue(name, out var field))
            {
                found.Add(new Segment(path, name, null, 0).ToString());
                (unknown ??= []).Add(name);
                continue;
            }
            if (field.Child is not { } child)
            {
                continue;
            }
            switch (value)
            {
                case JsonObject o when field.IsMap:
                    var map = new Segment(path, name, null, 0);
                    foreach (var (key, item) in o)
                    {
                        if (item is JsonObject itemObject)
                        {
                            Walk(itemObject, child, new Segment(map, null, key, 0), found);
                        }
                    }
                    break;
                case JsonObject o:
                    Walk(o, child, new Segment(path, name, null, 0), found);
                    break;
                case JsonArray a when field.Repeated:
                    var list = new Segment(path, name, null, 0);
                    for (var i = 0; i < a.Count; i++)
                    {
                        if (a[i] is JsonObject itemObject)
                        {
                            Walk(itemObject, child, new Segment(list, null, null, i), found);
                        }
                    }
                    break;
            }
        }
        foreach (var name in unknown ?? [])
        {
            obj.Remove(name);
        }
    }

    private static Dictionary<string, Known> Fields(string message)
    {
        if (ByName.TryGetValue(message, out var fields))
        {
            return fields;
        }
        ProtoSchema.Instance.TryGetMessage(message, out var byNumber);
        fields = new Dictionary<string, Known>(StringComparer.Ordinal);
        foreach (var f in byNumber.Values)
        {
            if (f.Inline)
            {
                // An inline message's fields belong to the parent in JSON.
                foreach (var (name, inner) in Fields(f.Type[4..]))
                {
                    fields[name] = inner;
                }
            }
            else
            {
                var type = f.Type == "map" ? f.MapValue! : f.Type;
                var structured = type.StartsWith("msg:", StringComparison.Ordinal) && !Leaves.Contains(type[4..]);
                fields[f.Name] = new Known(f.Type == "map", f.Repeated, structured ? type[4..] : null);
            }
        }
        return ByName.GetOrAdd(message, fields);
    }
}
