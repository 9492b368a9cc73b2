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

/// <summary>WATCH: a stream of events, one JSON object a line, until the request, its timeout or the server ends.</summary>
internal sealed class WatchHandler(Registry.Registry registry, CancellationToken stopping)
{
    public async Task WatchAsync(HttpContext http, ResourceType rt, string? ns, ListOptions options)
    {
        var output = MediaTypes.Negotiate(http.Request.Headers.Accept);
        var include = http.Request.Query["includeObject"].ToString();
        // Upstream closes watches after timeoutSeconds, or after a randomised 30–60 minutes.
        var timeout = options.Timeout ?? TimeSpan.FromSeconds(1800 * (1 + Random.Shared.NextDouble()));
        // Watches end with the request, their timeout, or the server's shutdown (clients then re-list or resume).
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted, stopping);
        cts.CancelAfter(timeout);
        http.Response.StatusCode = 200;
        http.Response.ContentType = MediaTypes.Json;
        var writer = http.Response.BodyWriter;
        await writer.FlushAsync(http.RequestAborted).ConfigureAwait(false);
        var first = true;
        try
        {
            await foreach (var e in registry.WatchAsync(rt.StoredAs ?? rt, ns, options, cts.Token).ConfigureAwait(false))
            {
                writer.Write("{\"type\":\""u8);
                writer.Write(Encoding.ASCII.GetBytes(e.Type));
                writer.Write("\",\"object\":"u8);
                if (e.Error is not null)
                {
                    writer.Write(ObjectCodec.ToUtf8(e.Error));
                }
                else if (e.Type == "BOOKMARK")
                {
                    writer.Write(ObjectCodec.ToUtf8(new JsonObject
                    {
                        ["kind"] = output == MediaTypes.Output.Object ? rt.Kind : output == MediaTypes.Output.Table ? "Table" : "PartialObjectMetadata",
                        ["apiVersion"] = output == MediaTypes.Output.Object ? rt.ApiVersion : "meta.k8s.io/v1",
                        ["metadata"] = new JsonObject { ["resourceVersion"] = e.ResourceVersion.ToString(CultureInfo.InvariantCulture) },
                    }));
                }
                else if (output == MediaTypes.Output.Table)
                {
                    var obj = Decode(rt.StoredAs ?? rt, e.Value, e.ResourceVersion);
                    writer.Write(ObjectCodec.ToUtf8(Tables.Build(rt.StoredAs ?? rt, [obj], null, null, include.Length == 0 ? "Metadata" : include, withHeaders: first)));
                    first = false;
                }
                else if (output == MediaTypes.Output.PartialObjectMetadata)
                {
                    writer.Write(ObjectCodec.ToUtf8(PartialMetadata(ObjectCodec.Decode(e.Value, e.ResourceVersion))));
                }
                else
                {
                    WriteStored(writer, rt, e.Value, e.ResourceVersion);
                }
                writer.Write("}\n"u8);
                var flush = await writer.FlushAsync(cts.Token).ConfigureAwait(false);
                if (flush.IsCompleted)
                {
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Timeout or client gone: the watch simply ends.
        }
    }
}
