using System.Text.Json;
using System.Text.Json.Nodes;

namespace Tugboat.Api.Serialization;

/// <summary>
/// The nesting bounds for objects. Request bodies (JSON and YAML) and patch results deeper than
/// <see cref="MaxBodyDepth"/> are refused, so everything stored nests at most that deep; every reader and writer of
/// stored or served JSON accepts <see cref="MaxDepth"/> (System.Text.Json alone stops reading at 64), which leaves room
/// for what the server wraps around objects (managedFields field sets nest a few levels deeper than the fields they
/// describe; lists, tables and watch events wrap objects). Recursive walks of objects (patches, field sets, pruning,
/// validation) are safe to these depths.
/// </summary>
public static class JsonLimits
{
    public const int MaxDepth = 1000;

    public const int MaxBodyDepth = 990;

    public static readonly JsonDocumentOptions Document = new() { MaxDepth = MaxDepth };

    public static readonly JsonReaderOptions Reader = new() { MaxDepth = MaxDepth };

    /// <summary>For <c>ToJsonString</c> of objects or parts of them (the default options stop writing at 64 levels).</summary>
    public static readonly JsonSerializerOptions Writer = new() { MaxDepth = MaxDepth };

    /// <summary>Parses JSON that is at most <see cref="MaxDepth"/> deep.</summary>
    public static JsonNode? Parse(ReadOnlySpan<byte> utf8) => JsonNode.Parse(utf8, documentOptions: Document);

    /// <summary>Parses JSON text that is at most <see cref="MaxDepth"/> deep.</summary>
    public static JsonNode? Parse(string json) => JsonNode.Parse(json, documentOptions: Document);

    /// <summary>How deeply <paramref name="node"/> nests (a scalar is 0, <c>{}</c> and <c>[]</c> are 1), found without recursion.</summary>
    public static int Depth(JsonNode? node)
    {
        if (node is not (JsonObject or JsonArray))
        {
            return 0;
        }
        var deepest = 0;
        var pending = new Stack<(JsonNode Node, int Depth)>();
        pending.Push((node, 1));
        while (pending.TryPop(out var item))
        {
            deepest = Math.Max(deepest, item.Depth);
            IEnumerable<JsonNode?> children = item.Node is JsonObject o ? o.Select(p => p.Value) : (JsonArray)item.Node;
            foreach (var child in children)
            {
                if (child is JsonObject or JsonArray)
                {
                    pending.Push((child, item.Depth + 1));
                }
            }
        }
        return deepest;
    }
}
