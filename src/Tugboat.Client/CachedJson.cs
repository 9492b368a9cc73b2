using System.Buffers;
using System.Text.Json;
using System.Text.Json.Nodes;
using Tugboat.Api.Serialization;

namespace Tugboat.Client;

/// <summary>
/// Reads objects for an informer's cache straight from the server's bytes, cutting metadata.managedFields out of the
/// bytes before parsing (as upstream's controller manager and scheduler drop them from their caches). Removing the
/// field from an already parsed object is not enough: the parsed tree keeps the whole original text alive behind it,
/// so a cached pod would still cost the bytes of every manager's field set.
/// </summary>
internal static class CachedJson
{
    /// <summary>
    /// A watch event line (<c>{"type":…,"object":{…}}</c>): its type, its object without managedFields, and the
    /// object's cache key (<see cref="Informer.KeyOf"/>), read from the bytes so that the parsed tree need not be.
    /// </summary>
    /// <exception cref="JsonException">The line is not a watch event.</exception>
    public static (string Type, JsonObject Object, string Key) WatchEvent(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json, JsonLimits.Reader);
        string? type = null;
        (JsonObject Object, string Key)? obj = null;
        Expect(ref reader, JsonTokenType.StartObject);
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("type"u8))
            {
                reader.Read();
                type = reader.GetString();
            }
            else if (reader.ValueTextEquals("object"u8))
            {
                reader.Read();
                obj = ObjectAt(json, ref reader);
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }
        var (o, key) = obj ?? throw new JsonException("a watch event has an object");
        return (type ?? throw new JsonException("a watch event has a type"), o, key);
    }

    /// <summary>A list (<c>{"metadata":{…},"items":[…]}</c>): its items without managedFields (with their cache keys), resourceVersion and continue token.</summary>
    public static (List<(JsonObject Object, string Key)> Items, string? ResourceVersion, string? Continue) List(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json, JsonLimits.Reader);
        var items = new List<(JsonObject Object, string Key)>();
        string? rv = null, cont = null;
        Expect(ref reader, JsonTokenType.StartObject);
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("items"u8))
            {
                reader.Read();
                if (reader.TokenType != JsonTokenType.StartArray)
                {
                    reader.Skip();
                    continue;
                }
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    if (reader.TokenType == JsonTokenType.StartObject)
                    {
                        items.Add(ObjectAt(json, ref reader));
                    }
                    else
                    {
                        reader.Skip();
                    }
                }
            }
            else if (reader.ValueTextEquals("metadata"u8))
            {
                reader.Read();
                if (reader.TokenType != JsonTokenType.StartObject)
                {
                    reader.Skip();
                    continue;
                }
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    var isRv = reader.ValueTextEquals("resourceVersion"u8);
                    var isContinue = reader.ValueTextEquals("continue"u8);
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.String && (isRv || isContinue))
                    {
                        (isRv ? ref rv : ref cont) = reader.GetString();
                    }
                    else
                    {
                        reader.Skip();
                    }
                }
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }
        return (items, rv, cont);
    }

    /// <summary>
    /// The object whose start the reader is on, parsed from its bytes less its top-level metadata's managedFields
    /// property (and the comma that separated it), and its key from its metadata's namespace and name; leaves the
    /// reader on the object's end.
    /// </summary>
    private static (JsonObject Object, string Key) ObjectAt(ReadOnlySpan<byte> json, ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw new JsonException("expected an object");
        }
        var start = (int)reader.TokenStartIndex;
        int cutStart = -1, cutEnd = -1;
        string? name = null, ns = null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (!reader.ValueTextEquals("metadata"u8) || cutStart >= 0)
            {
                reader.Read();
                reader.Skip();
                continue;
            }
            reader.Read();
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                reader.Skip();
                continue;
            }
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("managedFields"u8))
                {
                    var nameStart = (int)reader.TokenStartIndex;
                    reader.Read();
                    reader.Skip();
                    (cutStart, cutEnd) = Cut(json, nameStart, (int)reader.BytesConsumed);
                }
                else if (reader.ValueTextEquals("name"u8) || reader.ValueTextEquals("namespace"u8))
                {
                    var isName = reader.ValueTextEquals("name"u8);
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.String)
                    {
                        (isName ? ref name : ref ns) = reader.GetString();
                    }
                    else
                    {
                        reader.Skip();
                    }
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }
        }
        var end = (int)reader.BytesConsumed;
        var key = Informer.Key(ns, name);
        if (cutStart < 0)
        {
            return (JsonLimits.Parse(json[start..end])!.AsObject(), key);
        }
        // Parsing copies the bytes into the document it keeps, so the object is put together in a pooled buffer.
        var length = end - start - (cutEnd - cutStart);
        var compact = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            json[start..cutStart].CopyTo(compact);
            json[cutEnd..end].CopyTo(compact.AsSpan(cutStart - start));
            return (JsonLimits.Parse(compact.AsSpan(0, length))!.AsObject(), key);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(compact);
        }
    }

    /// <summary>The bytes to remove for the property spanning [<paramref name="nameStart"/>, <paramref name="valueEnd"/>): it and one neighbouring comma.</summary>
    private static (int Start, int End) Cut(ReadOnlySpan<byte> json, int nameStart, int valueEnd)
    {
        var before = nameStart - 1;
        while (before >= 0 && IsSpace(json[before]))
        {
            before--;
        }
        if (before >= 0 && json[before] == (byte)',')
        {
            return (before, valueEnd);
        }
        var after = valueEnd;
        while (after < json.Length && IsSpace(json[after]))
        {
            after++;
        }
        return after < json.Length && json[after] == (byte)',' ? (nameStart, after + 1) : (nameStart, valueEnd);
    }

    private static bool IsSpace(byte b) => b is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r';

    private static void Expect(ref Utf8JsonReader reader, JsonTokenType type)
    {
        if (!reader.Read() || reader.TokenType != type)
        {
            throw new JsonException($"expected {type}");
        }
    }
}
