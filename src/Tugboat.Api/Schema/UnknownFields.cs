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

    private static readonly Dictionary<string, Dictionary<string, ProtoField>> ByName = [];

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
            Walk(obj, message, string.Empty, found, topLevel: true);
        }
        return found;
    }

    private static void Walk(JsonObject obj, string message, string path, List<string> found, bool topLevel = false)
    {
        var fields = Fields(message);
        foreach (var (name, value) in obj.ToList())
        {
            if (topLevel && name is "apiVersion" or "kind")
            {
                continue;
            }
            var fieldPath = path.Length == 0 ? name : path + "." + name;
            if (!fields.TryGetValue(name, out var field))
            {
                found.Add(fieldPath);
                obj.Remove(name);
                continue;
            }
            var type = field.Type == "map" ? field.MapValue! : field.Type;
            if (!type.StartsWith("msg:", StringComparison.Ordinal) || Leaves.Contains(type[4..]))
            {
                continue;
            }
            var child = type[4..];
            switch (value)
            {
                case JsonObject o when field.Type == "map":
                    foreach (var (key, item) in o)
                    {
                        if (item is JsonObject itemObject)
                        {
                            Walk(itemObject, child, $"{fieldPath}[{key}]", found);
                        }
                    }
                    break;
                case JsonObject o:
                    Walk(o, child, fieldPath, found);
                    break;
                case JsonArray a when field.Repeated:
                    for (var i = 0; i < a.Count; i++)
                    {
                        if (a[i] is JsonObject itemObject)
                        {
                            Walk(itemObject, child, $"{fieldPath}[{i}]", found);
                        }
                    }
                    break;
            }
        }
    }

    private static Dictionary<string, ProtoField> Fields(string message)
    {
        lock (ByName)
        {
            return FieldsUnlocked(message);
        }
    }

    private static Dictionary<string, ProtoField> FieldsUnlocked(string message)
    {
        if (ByName.TryGetValue(message, out var fields))
        {
            return fields;
        }
        ProtoSchema.Instance.TryGetMessage(message, out var byNumber);
        fields = new Dictionary<string, ProtoField>(StringComparer.Ordinal);
        foreach (var f in byNumber.Values)
        {
            if (f.Inline)
            {
                // An inline message's fields belong to the parent in JSON.
                foreach (var (name, inner) in FieldsUnlocked(f.Type[4..]))
                {
                    fields[name] = inner;
                }
            }
            else
            {
                fields[f.Name] = f;
            }
        }
        ByName[message] = fields;
        return fields;
    }
}
