using System.Globalization;
using System.Text.Json.Nodes;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace Tugboat.Api.Serialization;

/// <summary>
/// YAML to JSON conversion with YAML 1.1-style scalar typing as sigs.k8s.io/yaml does (quoted scalars stay strings,
/// <c>!!str</c> forces a string, <c>&lt;&lt;</c> merges mappings).
/// </summary>
/// <remarks>
/// The document is read as a stream of parser events into an explicit stack, never by recursion, so hostile input
/// cannot overflow the stack: nesting beyond <see cref="MaxDepth"/> is refused, and so are documents whose aliases
/// expand far beyond their own size (go-yaml's rule, upstream's answer to the "billion laughs" CVE-2019-11253) or
/// whose expansion exceeds the byte budget given.
/// </remarks>
public static class Yaml
{
    /// <summary>How deep mappings and sequences may nest; the same bound as the JSON decoder's.</summary>
    public const int MaxDepth = JsonLimits.MaxBodyDepth;

    /// <summary>Parses a single YAML document into JSON; throws <see cref="FormatException"/> for malformed input.</summary>
    /// <param name="yaml">The document (only the first of a stream is read).</param>
    /// <param name="maxBytes">
    /// Budget for the decoded document, counted as the bytes of its scalars and keys plus a few per node; beyond it
    /// <see cref="InputTooLargeException"/> is thrown.
    /// </param>
    public static JsonNode? ToJson(string yaml, long maxBytes = long.MaxValue)
    {
        try
        {
            return new Builder(maxBytes).Read(new Parser(new StringReader(yaml)));
        }
        catch (YamlException ex)
        {
            throw new FormatException($"error converting YAML to JSON: yaml: line {ex.Start.Line}: {ex.Message}", ex);
        }
        catch (InvalidOperationException ex)
        {
            throw new FormatException($"error converting YAML to JSON: {ex.Message}", ex);
        }
    }

    /// <summary>The state of one open mapping or sequence.</summary>
    private sealed class Frame(JsonNode container, string? anchor, long startCount, long startBytes)
    {
        public JsonNode Container { get; } = container;
        public string? Anchor { get; } = anchor;
        public long StartCount { get; } = startCount;
        public long StartBytes { get; } = startBytes;

        /// <summary>For a mapping: the key read and waiting for its value (null when the next scalar is a key).</summary>
        public string? Key { get; set; }

        /// <summary>For a mapping: whether the key waiting is a merge key (<c>&lt;&lt;</c>).</summary>
        public bool MergeKey { get; set; }

        /// <summary>Mappings merged in with <c>&lt;&lt;</c>, in order of precedence; applied when the mapping ends.</summary>
        public List<JsonObject>? Merges { get; set; }
    }

    /// <summary>A completed anchored node, with what it cost to decode (what each alias of it costs again).</summary>
    private sealed record Anchored(JsonNode? Value, long Count, long Bytes);

    private sealed class Builder(long maxBytes)
    {
        private readonly Stack<Frame> _open = new();
        private readonly Dictionary<string, Anchored> _anchors = new(StringComparer.Ordinal);
        private long _decodeCount;
        private long _aliasCount;
        private long _bytes;
        private JsonNode? _root;
        private bool _done;

        public JsonNode? Read(IParser parser)
        {
            while (!_done && parser.MoveNext())
            {
                switch (parser.Current)
                {
                    case MappingStart m:
                        Open(new JsonObject(), m.Anchor);
                        break;
                    case SequenceStart s:
                        Open(new JsonArray(), s.Anchor);
                        break;
                    case MappingEnd or SequenceEnd:
                        Close();
                        break;
                    case Scalar scalar:
                        OnScalar(scalar);
                        break;
                    case AnchorAlias alias:
                        OnAlias(alias);
                        break;
                    case DocumentEnd when _open.Count == 0:
                        _done = true;
                        break;
                }
            }
            return _root;
        }

        private void Open(JsonNode container, AnchorName anchor)
        {
            if (_open.Count >= MaxDepth)
            {
                throw new FormatException($"error converting YAML to JSON: yaml: exceeded max depth of {MaxDepth}");
            }
            Count(1, 2);
            _open.Push(new Frame(container, anchor.IsEmpty ? null : anchor.Value, _decodeCount, _bytes));
        }

        private void Close()
        {
            var frame = _open.Pop();
            if (frame.Container is JsonObject obj && frame.Merges is { } merges)
            {
                // Keys of the mapping itself win over merged ones, and earlier merged mappings over later ones.
                foreach (var merged in merges)
                {
                    foreach (var name in merged.Select(p => p.Key).ToList())
                    {
                        if (!obj.ContainsKey(name))
                        {
                            merged.Remove(name, out var value);
                            obj[name] = value;
                        }
                    }
                }
            }
            if (frame.Anchor is { } anchor)
            {
                _anchors[anchor] = new Anchored(frame.Container, _decodeCount - frame.StartCount + 1, _bytes - frame.StartBytes + 2);
            }
            Place(frame.Container);
        }

        private void OnScalar(Scalar scalar)
        {
            Count(1, scalar.Value.Length + 2);
            if (_open.TryPeek(out var frame) && frame.Container is JsonObject && frame.Key is null)
            {
                frame.Key = scalar.Value;
                frame.MergeKey = scalar.Value == "<<" && scalar.Style == ScalarStyle.Plain && (scalar.Tag.IsGlobal ? scalar.Tag.Value == "tag:yaml.org,2002:merge" : scalar.Tag.IsEmpty);
                return;
            }
            var value = Convert(scalar);
            if (!scalar.Anchor.IsEmpty)
            {
                _anchors[scalar.Anchor.Value] = new Anchored(value, 1, scalar.Value.Length + 2);
            }
            Place(value);
        }

        private void OnAlias(AnchorAlias alias)
        {
            if (!_anchors.TryGetValue(alias.Value.Value, out var anchored))
            {
                throw new FormatException($"error converting YAML to JSON: yaml: unknown anchor '{alias.Value.Value}' referenced");
            }
            if (_open.TryPeek(out var frame) && frame.Container is JsonObject && frame.Key is null)
            {
                // An alias as a key: only a scalar makes a JSON key.
                if (anchored.Value is JsonObject or JsonArray)
                {
                    throw new FormatException("error converting YAML to JSON: non-scalar map key");
                }
                Count(anchored.Count, anchored.Bytes, alias: true);
                frame.Key = anchored.Value?.ToString() ?? "null";
                return;
            }
            Count(anchored.Count, anchored.Bytes, alias: true);
            Place(anchored.Value?.DeepClone());
        }

        /// <summary>Puts a finished node in the open container (or makes it the root).</summary>
        private void Place(JsonNode? value)
        {
            if (!_open.TryPeek(out var frame))
            {
                _root = value;
                _done = true;
                return;
            }
            switch (frame.Container)
            {
                case JsonArray array:
                    array.Add(value);
                    break;
                case JsonObject when frame.Key is null:
                    throw new FormatException("error converting YAML to JSON: non-scalar map key");
                case JsonObject when frame.MergeKey:
                    frame.Merges ??= [];
                    switch (value)
                    {
                        case JsonObject merged:
                            frame.Merges.Add(merged);
                            break;
                        case JsonArray list when list.All(i => i is JsonObject):
                            frame.Merges.AddRange(list.Select(i => (JsonObject)i!).ToList());
                            list.Clear();
                            break;
                        default:
                            throw new FormatException("error converting YAML to JSON: yaml: map merge requires map or sequence of maps as the value");
                    }
                    frame.Key = null;
                    frame.MergeKey = false;
                    break;
                case JsonObject obj:
                    obj[frame.Key] = value;
                    frame.Key = null;
                    break;
            }
        }

        /// <summary>
        /// Counts decoded nodes and bytes; nodes that come from expanding an alias also count as aliased. As go-yaml,
        /// a document may be mostly aliases only while small: past 1,000 nodes with over 100 aliased, the share of
        /// aliased nodes allowed falls from 99 % (up to 400,000 nodes) to 10 % (from 4,000,000).
        /// </summary>
        private void Count(long nodes, long bytes, bool alias = false)
        {
            _decodeCount += nodes;
            _bytes += bytes;
            if (alias)
            {
                _aliasCount += nodes;
                if (_aliasCount > 100 && _decodeCount > 1000 && (double)_aliasCount / _decodeCount > AllowedAliasRatio(_decodeCount))
                {
                    throw new FormatException("error converting YAML to JSON: yaml: document contains excessive aliasing");
                }
            }
            if (_bytes > maxBytes)
            {
                throw new InputTooLargeException($"Request entity too large: limit is {maxBytes}");
            }
        }

        private static double AllowedAliasRatio(long decodeCount) => decodeCount switch
        {
            <= 400_000 => 0.99,
            >= 4_000_000 => 0.10,
            _ => 0.99 - (0.89 * (decodeCount - 400_000) / 3_600_000.0),
        };
    }

    private static JsonNode? Convert(Scalar scalar)
    {
        var value = scalar.Value;
        if (scalar.Style is ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted or ScalarStyle.Literal or ScalarStyle.Folded
            || (scalar.Tag.IsGlobal && scalar.Tag.Value is "tag:yaml.org,2002:str" or "tag:yaml.org,2002:binary"))
        {
            return JsonValue.Create(value);
        }
        switch (value)
        {
            case "" or "~" or "null" or "Null" or "NULL":
                return null;
            case "true" or "True" or "TRUE":
                return JsonValue.Create(true);
            case "false" or "False" or "FALSE":
                return JsonValue.Create(false);
        }
        if (long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l))
        {
            return JsonValue.Create(l);
        }
        if (value.Length > 2 && value.StartsWith("0x", StringComparison.Ordinal) && long.TryParse(value[2..], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var hex))
        {
            return JsonValue.Create(hex);
        }
        if ((char.IsDigit(value[0]) || value[0] is '-' or '+' or '.') && double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && !double.IsInfinity(d))
        {
            return JsonValue.Create(d);
        }
        return JsonValue.Create(value);
    }
}
