using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Tugboat.Api.Serialization;
using Tugboat.Storage;

namespace Tugboat.ApiServer.Registry;

/// <summary>
/// How objects are stored: canonical JSON with <c>apiVersion</c>, <c>kind</c> and <c>metadata</c> first and without
/// <c>metadata.resourceVersion</c>, which is the entry's modification revision and is spliced back in when read.
/// Keeping the stored bytes free of the revision lets GET, LIST and watch copy them to the wire unparsed.
/// </summary>
internal static class ObjectCodec
{
    private static readonly byte[] MetadataMarker = "\"metadata\":{"u8.ToArray();

    public static readonly JsonSerializerOptions WireOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping, MaxDepth = JsonLimits.MaxDepth };

    // Each thread encodes into its own buffer and writer, kept between calls: a write allocates only the stored bytes,
    // not a growing buffer and a writer each time.
    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_buffer;

    [ThreadStatic]
    private static Utf8JsonWriter? t_writer;

    public static byte[] Encode(JsonObject obj)
    {
        var meta = obj["metadata"] as JsonObject;
        meta?.Remove("resourceVersion");
        var buffer = t_buffer ??= new ArrayBufferWriter<byte>(16 * 1024);
        buffer.ResetWrittenCount();
        var writer = t_writer ??= new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = WireOptions.Encoder, SkipValidation = true });
        writer.Reset(buffer);
        writer.WriteStartObject();
        foreach (var first in (ReadOnlySpan<string>)["apiVersion", "kind", "metadata"])
        {
            if (obj.TryGetPropertyValue(first, out var v))
            {
                writer.WritePropertyName(first);
                WriteNode(writer, v);
            }
        }
        foreach (var (name, value) in obj)
        {
            if (name is "apiVersion" or "kind" or "metadata")
            {
                continue;
            }
            writer.WritePropertyName(name);
            WriteNode(writer, value);
        }
        writer.WriteEndObject();
        writer.Flush();
        var bytes = buffer.WrittenSpan.ToArray();
        if (buffer.Capacity > 1024 * 1024)
        {
            // Not kept at the size of an unusually large object.
            t_buffer = null;
            t_writer = null;
        }
        return bytes;
    }

    private static void WriteNode(Utf8JsonWriter writer, JsonNode? node)
    {
        if (node is null)
        {
            writer.WriteNullValue();
        }
        else
        {
            node.WriteTo(writer, WireOptions);
        }
    }

    /// <summary>Parses a stored value and sets its resourceVersion.</summary>
    public static JsonObject Decode(ReadOnlyMemory<byte> value, long resourceVersion)
    {
        var obj = JsonLimits.Parse(value.Span)!.AsObject();
        obj.Meta()["resourceVersion"] = resourceVersion.ToString(CultureInfo.InvariantCulture);
        return obj;
    }

    public static JsonObject Decode(StoreEntry entry) => Decode(entry.Value, entry.ModRevision);

    /// <summary>Writes a stored value to <paramref name="output"/> with its resourceVersion, without parsing it.</summary>
    public static void WriteWithResourceVersion(IBufferWriter<byte> output, ReadOnlySpan<byte> value, long resourceVersion)
    {
        var at = value.IndexOf(MetadataMarker);
        if (at < 0)
        {
            output.Write(value);
            return;
        }
        var split = at + MetadataMarker.Length;
        output.Write(value[..split]);
        Span<byte> rv = stackalloc byte[64];
        var prefix = "\"resourceVersion\":\""u8;
        prefix.CopyTo(rv);
        resourceVersion.TryFormat(rv[prefix.Length..], out var written, default, CultureInfo.InvariantCulture);
        var len = prefix.Length + written;
        rv[len++] = (byte)'"';
        if (split < value.Length && value[split] != (byte)'}')
        {
            rv[len++] = (byte)',';
        }
        output.Write(rv[..len]);
        output.Write(value[split..]);
    }

    public static string ToJsonString(JsonNode node) => node.ToJsonString(WireOptions);

    public static byte[] ToUtf8(JsonNode node) => JsonSerializer.SerializeToUtf8Bytes(node, WireOptions);
}
