using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using Tugboat.Api.Apply;
using Tugboat.Api.Meta;
using Tugboat.Api.Patch;
using Tugboat.Api.Protobuf;
using Tugboat.Api.Schema;
using Tugboat.Api.Serialization;
using Tugboat.ApiServer.Http;
using Tugboat.ApiServer.Registry;
using Tugboat.Storage;
using static Tugboat.ApiServer.Handlers.Bodies;

namespace Tugboat.ApiServer.Handlers;

/// <summary>Answers: stored objects as the client asked for them (object, Table, partial metadata), and Status objects.</summary>
internal static class Responses
{
    /// <summary>Writes a stored object; custom resources stored in another version are shown in the requested one.</summary>
    internal static void WriteStored(IBufferWriter<byte> writer, ResourceType rt, ReadOnlyMemory<byte> value, long resourceVersion)
    {
        if (rt.Converter is not null || rt.IsCustom && !value.Span.StartsWith(Encoding.UTF8.GetBytes($"{{\"apiVersion\":\"{rt.ApiVersion}\"")))
        {
            writer.Write(ObjectCodec.ToUtf8(Decode(rt, value, resourceVersion)));
            return;
        }
        ObjectCodec.WriteWithResourceVersion(writer, value.Span, resourceVersion);
    }

    internal static JsonObject Decode(ResourceType rt, ReadOnlyMemory<byte> value, long resourceVersion)
    {
        var obj = ObjectCodec.Decode(value, resourceVersion);
        if (rt.Converter is { } converter)
        {
            return converter.FromStored(obj);
        }
        if (rt.IsCustom)
        {
            obj["apiVersion"] = rt.ApiVersion;
        }
        return obj;
    }

    internal static JsonObject Decode(ResourceType rt, StoreEntry entry) => Decode(rt, entry.Value, entry.ModRevision);

    internal static async Task WriteEntryAsync(HttpContext http, int status, ResourceType rt, StoreEntry entry)
    {
        var output = MediaTypes.Negotiate(http.Request.Headers.Accept);
        if (output != MediaTypes.Output.Object)
        {
            var tableType = output == MediaTypes.Output.Table ? rt.StoredAs ?? rt : rt;
            var obj = entry.ModRevision == 0 ? JsonLimits.Parse(entry.Value.Span)!.AsObject() : Decode(tableType, entry);
            JsonObject result = output == MediaTypes.Output.Table
                ? Tables.Build(tableType, [obj], null, null, http.Request.Query["includeObject"] is { Count: > 0 } inc ? inc.ToString() : "Metadata")
                : PartialMetadata(obj);
            await WriteJsonAsync(http, status, result).ConfigureAwait(false);
            return;
        }
        http.Response.StatusCode = status;
        http.Response.ContentType = MediaTypes.Json;
        if (entry.ModRevision == 0)
        {
            // Dry runs: nothing was stored, so there is no resourceVersion.
            http.Response.BodyWriter.Write(rt.Converter is { } converter ? ObjectCodec.ToUtf8(converter.FromStored(JsonLimits.Parse(entry.Value.Span)!.AsObject())) : entry.Value.ToArray());
        }
        else
        {
            WriteStored(http.Response.BodyWriter, rt, entry.Value, entry.ModRevision);
        }
        await http.Response.BodyWriter.FlushAsync(http.RequestAborted).ConfigureAwait(false);
    }

    internal static async Task WriteJsonAsync(HttpContext http, int status, JsonNode node)
    {
        http.Response.StatusCode = status;
        http.Response.ContentType = MediaTypes.Json;
        // Written straight into the response pipe: large Tables are never materialised as one string.
        using (var writer = new Utf8JsonWriter(http.Response.BodyWriter, new JsonWriterOptions { Encoder = ObjectCodec.WireOptions.Encoder, SkipValidation = true }))
        {
            node.WriteTo(writer, ObjectCodec.WireOptions);
        }
        await http.Response.BodyWriter.FlushAsync(http.RequestAborted).ConfigureAwait(false);
    }

    internal static async Task WriteStatusAsync(HttpContext http, ApiException e)
    {
        if (http.Response.HasStarted)
        {
            return;
        }
        await WriteJsonAsync(http, e.Code, e.ToStatus()).ConfigureAwait(false);
    }

    internal static JsonObject PartialMetadata(JsonObject obj) => new()
    {
        ["kind"] = "PartialObjectMetadata",
        ["apiVersion"] = "meta.k8s.io/v1",
        ["metadata"] = obj["metadata"]?.DeepClone(),
    };

    internal static Task WriteSuccessAsync(HttpContext http, int code) => WriteJsonAsync(http, code, new JsonObject
    {
        ["kind"] = "Status",
        ["apiVersion"] = "v1",
        ["metadata"] = new JsonObject(),
        ["status"] = "Success",
        ["code"] = code,
    });

    internal static async Task WriteBytesAsync(HttpContext http, byte[] body)
    {
        http.Response.StatusCode = 200;
        http.Response.ContentType = MediaTypes.Json;
        await http.Response.BodyWriter.WriteAsync(body, http.RequestAborted).ConfigureAwait(false);
    }
}
