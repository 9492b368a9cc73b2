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
using static Tugboat.ApiServer.Handlers.Patches;
using static Tugboat.ApiServer.Handlers.Queries;
using static Tugboat.ApiServer.Handlers.Responses;

namespace Tugboat.ApiServer.Handlers;

/// <summary>LIST: a collection as one response, written item by item (objects, a Table or partial metadata).</summary>
internal sealed class ListHandler(Registry.Registry registry)
{
    public async Task ListAsync(HttpContext http, ResourceType rt, string? ns, ListOptions options)
    {
        var output = MediaTypes.Negotiate(http.Request.Headers.Accept);
        var stored = rt.StoredAs ?? rt;
        var list = await registry.ListAsync(stored, ns, options, http.RequestAborted).ConfigureAwait(false);
        var rv = list.Revision.ToString(CultureInfo.InvariantCulture);
        if (output == MediaTypes.Output.Table)
        {
            var include = http.Request.Query["includeObject"].ToString();
            http.Response.StatusCode = 200;
            http.Response.ContentType = MediaTypes.Json;
            using (var json = new Utf8JsonWriter(http.Response.BodyWriter, new JsonWriterOptions { Encoder = ObjectCodec.WireOptions.Encoder, SkipValidation = true }))
            {
                // Columns are defined on the stored form.
                Tables.Write(json, stored, list.Items.Select(e => Decode(stored, e)), rv, list.Continue, include.Length == 0 ? "Metadata" : include);
            }
            await http.Response.BodyWriter.FlushAsync(http.RequestAborted).ConfigureAwait(false);
            return;
        }
        http.Response.StatusCode = 200;
        http.Response.ContentType = MediaTypes.Json;
        var writer = http.Response.BodyWriter;
        var meta = new JsonObject { ["resourceVersion"] = rv };
        if (list.Continue is not null)
        {
            meta["continue"] = list.Continue;
        }
        var partial = output == MediaTypes.Output.PartialObjectMetadata;
        var head = partial
            ? $"{{\"kind\":\"PartialObjectMetadataList\",\"apiVersion\":\"meta.k8s.io/v1\",\"metadata\":{meta.ToJsonString(JsonLimits.Writer)},\"items\":["
            : $"{{\"kind\":\"{rt.ListKind}\",\"apiVersion\":\"{rt.ApiVersion}\",\"metadata\":{meta.ToJsonString(JsonLimits.Writer)},\"items\":[";
        writer.Write(Encoding.UTF8.GetBytes(head));
        for (var i = 0; i < list.Items.Count; i++)
        {
            if (i > 0)
            {
                writer.Write(","u8);
            }
            if (partial)
            {
                writer.Write(ObjectCodec.ToUtf8(PartialMetadata(ObjectCodec.Decode(list.Items[i]))));
            }
            else
            {
                WriteStored(writer, rt, list.Items[i].Value, list.Items[i].ModRevision);
            }
            if (i % 256 == 255)
            {
                await writer.FlushAsync(http.RequestAborted).ConfigureAwait(false);
            }
        }
        writer.Write("]}"u8);
        await writer.FlushAsync(http.RequestAborted).ConfigureAwait(false);
    }
}
