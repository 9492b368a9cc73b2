using System.Text.Json.Nodes;
using Tugboat.Api.Serialization;

namespace Tugboat.Api.Patch;

/// <summary>RFC 6902 JSON patch (add, remove, replace, move, copy, test) over RFC 6901 pointers.</summary>
public static class JsonPatch
{
    /// <summary>
    /// Applies <paramref name="operations"/> (a JSON array) to a copy of <paramref name="document"/>.
    /// Throws <see cref="PatchException"/> with a message naming the failing operation.
    /// </summary>
    /// <param name="maxCopiedBytes">
    /// How many bytes all copy operations together may add (upstream's JSONPatchMaxCopyBytes); without a bound, a few
    /// thousand copies of a growing value double it each time.
    /// </param>
    public static JsonNode? Apply(JsonNode? document, JsonNode? operations, long maxCopiedBytes = long.MaxValue)
    {
        long copied = 0;
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
            var kind = Text(op, "op") ?? throw new PatchException("Unexpected kind: unknown");
            var path = Text(op, "path") ?? throw new PatchException($"missing path in \"{kind}\" operation");
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
                {
                    var value = Get(root, From(op, kind));
                    copied += value is null ? 4 : value.ToJsonString(JsonLimits.Writer).Length;
                    if (copied > maxCopiedBytes)
                    {
                        throw new PatchException($"Unable to complete the copy, the accumulated size increase of copy is {copied}, exceeding the limit {maxCopiedBytes}");
                    }
                    Add(root, path, value?.DeepClone());
                    break;
                }
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
        Text(op, "from") ?? throw new PatchException($"missing from in \"{kind}\" operation");

    /// <summary>A string member of an operation; anything else counts as missing.</summary>
    private static string? Text(JsonObject op, string name) => op[name] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

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

    /// <summary>A value placed at a pointer may not make the object nest deeper than any request body may.</summary>
    private static void CheckDepth(string pointer, JsonNode? value)
    {
        if (value is (JsonObject or JsonArray) && pointer.Count(c => c == '/') + JsonLimits.Depth(value) > JsonLimits.MaxBodyDepth)
        {
            throw new PatchException($"the patched object would nest deeper than {JsonLimits.MaxBodyDepth} levels at \"{pointer}\"");
        }
    }

    private static void Add(JsonObject root, string pointer, JsonNode? value)
    {
        CheckDepth(pointer, value);
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
        CheckDepth(pointer, value);
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
