using System.Text.Json.Nodes;

namespace Tugboat.Api.Patch;

/// <summary>RFC 6902 JSON patch (add, remove, replace, move, copy, test) over RFC 6901 pointers.</summary>
public static class JsonPatch
{
    /// <summary>
    /// Applies <paramref name="operations"/> (a JSON array) to a copy of <paramref name="document"/>.
    /// Throws <see cref="PatchException"/> with a message naming the failing operation.
    /// </summary>
    public static JsonNode? Apply(JsonNode? document, JsonNode? operations)
    {
        if (operations is not JsonArray ops)
        {
            throw new PatchException("json: cannot unmarshal object into Go value of type jsonpatch.Patch");
        }
        var root = new JsonObject { ["$"] = document?.DeepClone() };
        foreach (var opNode in ops)
        {
            if (opNode is not JsonObject op)
            {
                throw new PatchException("invalid JSON patch operation");
            }
            var kind = op["op"]?.GetValue<string>() ?? throw new PatchException("Unexpected kind: unknown");
            var path = op["path"]?.GetValue<string>() ?? throw new PatchException($"missing path in \"{kind}\" operation");
            switch (kind)
            {
                case "add":
                    Add(root, path, Value(op, kind));
                    break;
                case "remove":
                    Remove(root, path);
                    break;
                case "replace":
                    Replace(root, path, Value(op, kind));
                    break;
                case "move":
                {
                    var from = From(op, kind);
                    var value = Get(root, from);
                    Remove(root, from);
                    Add(root, path, value);
                    break;
                }
                case "copy":
                    Add(root, path, Get(root, From(op, kind))?.DeepClone());
                    break;
                case "test":
                {
                    var actual = Get(root, path);
                    if (!JsonNode.DeepEquals(actual, op["value"]))
                    {
                        throw new PatchException($"testing value {path} failed: test failed");
                    }
                    break;
                }
                default:
                    throw new PatchException($"Unexpected kind: {kind}");
            }
        }
        return root["$"];
    }

    private static JsonNode? Value(JsonObject op, string kind) =>
        op.ContainsKey("value") ? op["value"]?.DeepClone() : throw new PatchException($"missing value in \"{kind}\" operation");

    private static string From(JsonObject op, string kind) =>
        op["from"]?.GetValue<string>() ?? throw new PatchException($"missing from in \"{kind}\" operation");

    private static List<string> Split(string pointer)
    {
        if (pointer.Length == 0)
        {
            return [];
        }
        if (pointer[0] != '/')
        {
            throw new PatchException($"JSON pointer must be empty or start with a \"/\": {pointer}");
        }
        return pointer[1..].Split('/').Select(t => t.Replace("~1", "/").Replace("~0", "~")).ToList();
    }

    private static (JsonNode Parent, string Token) Locate(JsonObject root, string pointer, string opName)
    {
        var tokens = Split(pointer);
        tokens.Insert(0, "$");
        JsonNode current = root;
        for (var i = 0; i < tokens.Count - 1; i++)
        {
            current = Child(current, tokens[i]) ?? throw new PatchException($"{opName} operation does not apply: doc is missing path: \"{pointer}\": missing value");
        }
        return (current, tokens[^1]);
    }

    private static JsonNode? Child(JsonNode node, string token) => node switch
    {
        JsonObject o => o[token],
        JsonArray a when int.TryParse(token, out var i) && i >= 0 && i < a.Count => a[i],
        _ => null,
    };

    private static JsonNode? Get(JsonObject root, string pointer)
    {
        var (parent, token) = Locate(root, pointer, "copy/move/test");
        return parent switch
        {
            JsonObject o when o.ContainsKey(token) => o[token],
            JsonArray a when int.TryParse(token, out var i) && i >= 0 && i < a.Count => a[i],
            _ => throw new PatchException($"doc is missing path: \"{pointer}\""),
        };
    }

    private static void Add(JsonObject root, string pointer, JsonNode? value)
    {
        var (parent, token) = Locate(root, pointer, "add");
        switch (parent)
        {
            case JsonObject o:
                o[token] = value;
                break;
            case JsonArray a when token == "-":
                a.Add(value);
                break;
            case JsonArray a when int.TryParse(token, out var i) && i >= 0 && i <= a.Count:
                a.Insert(i, value);
                break;
            default:
                throw new PatchException($"add operation does not apply: doc is missing path: \"{pointer}\": missing value");
        }
    }

    private static void Replace(JsonObject root, string pointer, JsonNode? value)
    {
        var (parent, token) = Locate(root, pointer, "replace");
        switch (parent)
        {
            case JsonObject o when o.ContainsKey(token):
                o[token] = value;
                break;
            case JsonArray a when int.TryParse(token, out var i) && i >= 0 && i < a.Count:
                a[i] = value;
                break;
            default:
                throw new PatchException($"replace operation does not apply: doc is missing key: {pointer}: missing value");
        }
    }

    private static void Remove(JsonObject root, string pointer)
    {
        var (parent, token) = Locate(root, pointer, "remove");
        switch (parent)
        {
            case JsonObject o when o.ContainsKey(token):
                o.Remove(token);
                break;
            case JsonArray a when int.TryParse(token, out var i) && i >= 0 && i < a.Count:
                a.RemoveAt(i);
                break;
            default:
                throw new PatchException($"remove operation does not apply: doc is missing path: \"{pointer}\": missing value");
        }
    }
}

/// <summary>A patch could not be applied; the message is suitable for a 422/400 Status.</summary>
public sealed class PatchException(string message) : Exception(message);
