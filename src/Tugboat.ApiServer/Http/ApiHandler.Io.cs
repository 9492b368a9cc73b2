using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using Tugboat.Api.Meta;
using Tugboat.Api.Patch;
using Tugboat.Api.Protobuf;
using Tugboat.Api.Schema;
using Tugboat.Api.Serialization;
using Tugboat.ApiServer.Registry;
using Tugboat.Storage;

namespace Tugboat.ApiServer.Http;

internal sealed partial class ApiHandler
{
    private async Task ListAsync(HttpContext http, ResourceType rt, string? ns, ListOptions options)
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

    private static JsonObject PartialMetadata(JsonObject obj) => new()
    {
        ["kind"] = "PartialObjectMetadata",
        ["apiVersion"] = "meta.k8s.io/v1",
        ["metadata"] = obj["metadata"]?.DeepClone(),
    };

    private async Task WatchAsync(HttpContext http, ResourceType rt, string? ns, ListOptions options)
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

    private async Task DeleteCollectionAsync(HttpContext http, ResourceType rt, string? ns, bool dryRun)
    {
        var query = http.Request.Query;
        var body = await ReadOptionalObjectAsync(http).ConfigureAwait(false);
        var deleteOptions = Registry.DeleteOptions.From(body, k => query.TryGetValue(k, out var v) ? v.ToString() : null, dryRun);
        var options = ParseListOptions(query) with { Limit = 0, Continue = null };
        var stored = rt.StoredAs ?? rt;
        var list = await registry.ListAsync(stored, ns, options, http.RequestAborted).ConfigureAwait(false);
        var deleted = new List<StoreEntry>();
        ApiException? refused = null;
        foreach (var e in list.Items)
        {
            var obj = JsonLimits.Parse(e.Value.Span)!;
            try
            {
                var outcome = await registry.DeleteAsync(stored, obj.Str("metadata", "namespace"), obj.Str("metadata", "name")!, deleteOptions, http.RequestAborted).ConfigureAwait(false);
                deleted.Add(outcome.Entry);
            }
            catch (ApiException ex) when (ex.Code == 404)
            {
            }
            catch (ApiException ex)
            {
                // As upstream, one refused item (a system namespace, a failed precondition) does not spare the others;
                // the collection answers with the first refusal.
                refused ??= ex;
            }
        }
        if (refused is not null)
        {
            throw refused;
        }
        http.Response.StatusCode = 200;
        http.Response.ContentType = MediaTypes.Json;
        var writer = http.Response.BodyWriter;
        writer.Write(Encoding.UTF8.GetBytes($"{{\"kind\":\"{rt.ListKind}\",\"apiVersion\":\"{rt.ApiVersion}\",\"metadata\":{{\"resourceVersion\":\"{registry.Store.CurrentRevision}\"}},\"items\":["));
        for (var i = 0; i < deleted.Count; i++)
        {
            if (i > 0)
            {
                writer.Write(","u8);
            }
            WriteStored(writer, rt, deleted[i].Value, deleted[i].ModRevision);
        }
        writer.Write("]}"u8);
        await writer.FlushAsync(http.RequestAborted).ConfigureAwait(false);
    }

    private static ListOptions ParseListOptions(IQueryCollection query)
    {
        LabelSelector labels;
        FieldSelector fields;
        try
        {
            labels = LabelSelector.Parse(query["labelSelector"]);
        }
        catch (FormatException e)
        {
            throw ApiException.BadRequest(e.Message);
        }
        try
        {
            fields = FieldSelector.Parse(query["fieldSelector"]);
        }
        catch (FormatException e)
        {
            throw ApiException.BadRequest(e.Message);
        }
        var limit = 0;
        if (query["limit"] is { Count: > 0 } l && !int.TryParse(l, NumberStyles.None, CultureInfo.InvariantCulture, out limit))
        {
            throw ApiException.BadRequest($"limit: Invalid value: \"{l}\": must be a non-negative integer");
        }
        TimeSpan? timeout = null;
        if (query["timeoutSeconds"] is { Count: > 0 } t)
        {
            timeout = long.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out var secs)
                ? TimeSpan.FromSeconds(secs)
                : throw ApiException.BadRequest($"timeoutSeconds: Invalid value: \"{t}\": must be a non-negative integer");
        }
        if (IsTrue(query["sendInitialEvents"]))
        {
            throw new ApiException(422, "Invalid", "ListOptions.meta.k8s.io \"\" is invalid: sendInitialEvents: Forbidden: sendInitialEvents is not supported by this server yet");
        }
        return new ListOptions
        {
            Labels = labels,
            Fields = fields,
            Limit = limit,
            Continue = query["continue"] is { Count: > 0 } c ? c.ToString() : null,
            ResourceVersion = query["resourceVersion"] is { Count: > 0 } rv ? CheckResourceVersion(rv.ToString()) : null,
            ResourceVersionMatch = query["resourceVersionMatch"] is { Count: > 0 } m ? m.ToString() : null,
            AllowBookmarks = IsTrue(query["allowWatchBookmarks"]),
            Timeout = timeout,
        };
    }

    /// <summary>
    /// A resourceVersion parameter must be a revision (digits), as upstream's versioner parses it; checked before a list
    /// or watch starts answering, so that a bad one is a 400 rather than a stream that ends at once.
    /// </summary>
    private static string CheckResourceVersion(string rv)
    {
        if (rv.Length == 0 || long.TryParse(rv, NumberStyles.None, CultureInfo.InvariantCulture, out _))
        {
            return rv;
        }
        var why = rv.All(char.IsAsciiDigit) ? "value out of range" : "invalid syntax";
        throw ApiException.BadRequest($"invalid resource version: resourceVersion: Invalid value: \"{rv}\": strconv.ParseUint: parsing \"{rv}\": {why}");
    }

    private static bool IsTrue(StringValues v) => v.Count > 0 && (v[0] is "1" or "true" or "True");

    private static bool DryRun(StringValues v)
    {
        if (v.Count == 0)
        {
            return false;
        }
        foreach (var s in v)
        {
            if (s != "All")
            {
                throw ApiException.BadRequest($"dryRun: Unsupported value: \"{s}\": supported values: \"All\"");
            }
        }
        return true;
    }

    private static async Task<byte[]> ReadBodyAsync(HttpContext http)
    {
        if (http.Request.ContentLength > MaxBodyBytes)
        {
            throw new ApiException(413, "RequestEntityTooLarge", $"Request entity too large: limit is {MaxBodyBytes}");
        }
        using var buffer = new MemoryStream();
        var chunk = ArrayPool<byte>.Shared.Rent(81920);
        try
        {
            int n;
            while ((n = await http.Request.Body.ReadAsync(chunk, http.RequestAborted).ConfigureAwait(false)) > 0)
            {
                buffer.Write(chunk, 0, n);
                if (buffer.Length > MaxBodyBytes)
                {
                    throw new ApiException(413, "RequestEntityTooLarge", $"Request entity too large: limit is {MaxBodyBytes}");
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
        return buffer.ToArray();
    }

    private static string ContentType(HttpContext http) =>
        (http.Request.ContentType ?? MediaTypes.Json).Split(';')[0].Trim().ToLowerInvariant();

    /// <summary>
    /// Reads a JSON or YAML object body meant to be a <paramref name="kind"/>; anything else is 415, malformed input
    /// 400 with upstream's "the object provided is unrecognized" and a summary of the body.
    /// </summary>
    private static async Task<JsonObject> ReadObjectAsync(HttpContext http, string kind, bool checkKind = true)
    {
        var contentType = ContentType(http);
        if (contentType is not (MediaTypes.Json or MediaTypes.Yaml or "application/x-yaml" or "text/yaml" or KubeProtobuf.MediaType))
        {
            throw ApiException.UnsupportedMediaType($"the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf");
        }
        var body = await ReadBodyAsync(http).ConfigureAwait(false);
        JsonObject obj;
        try
        {
            obj = DecodeValidated(http, body, contentType) as JsonObject ?? throw ApiException.BadRequest("the request body must be an object");
        }
        catch (ApiException e) when (e.Code == 400 && !e.Message.StartsWith("strict decoding error", StringComparison.Ordinal))
        {
            throw ApiException.BadRequest($"the object provided is unrecognized (must be of type {kind}): {e.Message} ({Summarize(body)})");
        }
        if (checkKind && obj["kind"] is not null && obj.Str("kind") is null)
        {
            throw ApiException.BadRequest("couldn't get version/kind; json parse error: kind must be a string");
        }
        return obj;
    }

    /// <summary>Upstream's summary of a body it could not decode: its first 30 bytes, as text for JSON and in hex otherwise.</summary>
    private static string Summarize(byte[] body)
    {
        const int max = 30;
        var head = body.AsSpan(0, Math.Min(body.Length, max));
        var more = body.Length > max ? " ..." : string.Empty;
        return body.Length == 0 ? "<empty>"
            : body[0] == (byte)'{' ? Encoding.UTF8.GetString(head) + more
            : Convert.ToHexStringLower(head) + more;
    }

    private static async Task<JsonObject?> ReadOptionalObjectAsync(HttpContext http)
    {
        if (http.Request.ContentLength is 0 || (http.Request.ContentLength is null && !http.Request.Headers.ContainsKey("Transfer-Encoding")))
        {
            return null;
        }
        var body = await ReadBodyAsync(http).ConfigureAwait(false);
        if (body.Length == 0)
        {
            return null;
        }
        return DecodeValidated(http, body, ContentType(http)) as JsonObject;
    }

    private static JsonNode? Decode(byte[] body, string contentType)
    {
        try
        {
            if (contentType == KubeProtobuf.MediaType)
            {
                return KubeProtobuf.Decode(body);
            }
            // Text bodies must be UTF-8: nothing invalid is silently replaced and stored.
            var yaml = contentType is MediaTypes.Yaml or "application/x-yaml" or "text/yaml" or MediaTypes.ApplyPatch;
            if (!System.Text.Unicode.Utf8.IsValid(body))
            {
                throw ApiException.BadRequest(yaml
                    ? "error converting YAML to JSON: yaml: invalid UTF-8 octet sequence"
                    : "couldn't get version/kind; json parse error: invalid UTF-8 in the request body");
            }
            if (yaml)
            {
                return Yaml.ToJson(Encoding.UTF8.GetString(body), MaxBodyBytes);
            }
            return JsonNode.Parse(body, documentOptions: new JsonDocumentOptions { MaxDepth = JsonLimits.MaxBodyDepth, AllowDuplicateProperties = false });
        }
        catch (JsonException e) when (e.Message.StartsWith("Duplicate property", StringComparison.Ordinal))
        {
            throw new DuplicateFieldException(body);
        }
        catch (JsonException e)
        {
            throw ApiException.BadRequest($"couldn't get version/kind; json parse error: {e.Message}");
        }
        catch (InputTooLargeException e)
        {
            throw new ApiException(413, "RequestEntityTooLarge", e.Message);
        }
        catch (FormatException e)
        {
            throw ApiException.BadRequest(e.Message);
        }
    }

    /// <summary>A JSON body named a field twice; how that is handled depends on the request's fieldValidation.</summary>
    private sealed class DuplicateFieldException(byte[] body) : Exception("duplicate field")
    {
        public byte[] Body { get; } = body;
    }

    /// <summary>
    /// Upstream's fieldValidation for duplicate fields: Strict rejects the request, Warn answers with a Warning header,
    /// Ignore keeps the last value. Unknown-field detection needs the typed schemas and is not done yet.
    /// </summary>
    private static JsonNode? DecodeValidated(HttpContext http, byte[] body, string contentType)
    {
        var mode = http.Request.Query["fieldValidation"].ToString();
        if (mode is not ("" or "Ignore" or "Warn" or "Strict"))
        {
            throw ApiException.BadRequest($"fieldValidation: Unsupported value: \"{mode}\": supported values: \"Ignore\", \"Warn\", \"Strict\"");
        }
        try
        {
            return Decode(body, contentType);
        }
        catch (DuplicateFieldException e)
        {
            var duplicates = new List<string>();
            using var doc = JsonDocument.Parse(e.Body, JsonLimits.Document);
            var node = LastWins(doc.RootElement, string.Empty, duplicates);
            var messages = duplicates.Select(d => $"json: duplicate field \"{d}\"").ToList();
            switch (mode)
            {
                case "Strict":
                    throw ApiException.BadRequest("strict decoding error: " + string.Join(", ", messages));
                case "Warn" or "":
                    foreach (var m in messages)
                    {
                        http.Response.Headers.Append("Warning", $"299 - \"{m.Replace("\"", "\\\"", StringComparison.Ordinal)}\"");
                    }
                    break;
            }
            return node;
        }
    }

    /// <summary>
    /// Drops the fields a built-in kind does not define, as upstream's decoding does: silently under
    /// fieldValidation=Ignore, with a Warning header under Warn (the default), and Strict rejects the request.
    /// </summary>
    private static JsonObject CheckFields(HttpContext http, JsonObject obj, string apiVersion, string kind) =>
        CheckFields(http, obj, apiVersion, kind, UnknownFields.Prune(obj, apiVersion, kind));

    private static JsonObject CheckFields(HttpContext http, JsonObject obj, string apiVersion, string kind, List<string> unknown)
    {
        if (unknown.Count == 0)
        {
            return obj;
        }
        var messages = unknown.Select(u => $"unknown field \"{u}\"").ToList();
        switch (http.Request.Query["fieldValidation"].ToString())
        {
            case "Strict":
                var version = apiVersion.Contains('/') ? apiVersion[(apiVersion.IndexOf('/') + 1)..] : apiVersion;
                throw ApiException.BadRequest($"{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {string.Join(", ", messages)}");
            case "Ignore":
                break;
            default:
                foreach (var m in messages)
                {
                    http.Response.Headers.Append("Warning", $"299 - \"{m.Replace("\"", "\\\"", StringComparison.Ordinal)}\"");
                }
                break;
        }
        return obj;
    }

    private static JsonObject CheckFields(HttpContext http, JsonObject obj, ResourceType rt) =>
        CheckFields(http, obj, rt.ApiVersion, rt.Kind, rt.Strategy.Prune(obj, rt.ApiVersion, rt.Kind));

    /// <summary>Writes a stored object; custom resources stored in another version are shown in the requested one.</summary>
    private static void WriteStored(IBufferWriter<byte> writer, ResourceType rt, ReadOnlyMemory<byte> value, long resourceVersion)
    {
        if (rt.Converter is not null || rt.IsCustom && !value.Span.StartsWith(Encoding.UTF8.GetBytes($"{{\"apiVersion\":\"{rt.ApiVersion}\"")))
        {
            writer.Write(ObjectCodec.ToUtf8(Decode(rt, value, resourceVersion)));
            return;
        }
        ObjectCodec.WriteWithResourceVersion(writer, value.Span, resourceVersion);
    }

    private static JsonObject Decode(ResourceType rt, ReadOnlyMemory<byte> value, long resourceVersion)
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

    private static JsonObject Decode(ResourceType rt, StoreEntry entry) => Decode(rt, entry.Value, entry.ModRevision);

    private static JsonNode? LastWins(JsonElement element, string path, List<string> duplicates)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                var obj = new JsonObject();
                foreach (var p in element.EnumerateObject())
                {
                    var child = path.Length == 0 ? p.Name : path + "." + p.Name;
                    if (obj.ContainsKey(p.Name))
                    {
                        duplicates.Add(child);
                    }
                    obj[p.Name] = LastWins(p.Value, child, duplicates);
                }
                return obj;
            case JsonValueKind.Array:
                var arr = new JsonArray();
                var i = 0;
                foreach (var item in element.EnumerateArray())
                {
                    arr.Add(LastWins(item, $"{path}[{i++}]", duplicates));
                }
                return arr;
            default:
                return JsonLimits.Parse(element.GetRawText());
        }
    }

    /// <summary>Reads a patch body and returns the function that applies it.</summary>
    private static async Task<Func<JsonObject, JsonNode?>> ReadPatchAsync(HttpContext http, ResourceType rt, string subresource)
    {
        var apply = await ReadPatchFunctionAsync(http, rt, subresource).ConfigureAwait(false);
        var (apiVersion, kind) = subresource == "scale" ? ("autoscaling/v1", "Scale") : (rt.ApiVersion, rt.Kind);
        return target => apply(target) is JsonObject patched ? CheckFields(http, patched, apiVersion, kind) : throw ApiException.BadRequest("the patch did not produce an object");
    }

    private static async Task<Func<JsonObject, JsonNode?>> ReadPatchFunctionAsync(HttpContext http, ResourceType rt, string subresource)
    {
        var contentType = ContentType(http);
        switch (contentType)
        {
            case MediaTypes.MergePatch:
            {
                var patch = DecodeValidated(http, await ReadBodyAsync(http).ConfigureAwait(false), MediaTypes.Json);
                if (patch is not JsonObject)
                {
                    throw ApiException.BadRequest("json: cannot unmarshal into Go value of type map[string]interface {}");
                }
                return target => JsonMergePatch.Apply(target, patch);
            }
            case MediaTypes.JsonPatch:
            {
                var patch = Decode(await ReadBodyAsync(http).ConfigureAwait(false), MediaTypes.Json);
                if (patch is not JsonArray operations)
                {
                    throw ApiException.BadRequest("json: cannot unmarshal object into Go value of type jsonpatch.Patch");
                }
                if (operations.Count > MaxJsonPatchOperations)
                {
                    throw new ApiException(413, "RequestEntityTooLarge", $"Request entity too large: The allowed maximum operations in a JSON patch is {MaxJsonPatchOperations}, got {operations.Count}");
                }
                return target =>
                {
                    try
                    {
                        return JsonPatch.Apply(target, patch, MaxBodyBytes);
                    }
                    catch (PatchException e)
                    {
                        throw new ApiException(422, "Invalid", e.Message);
                    }
                };
            }
            case MediaTypes.StrategicMergePatch:
            {
                var definition = subresource == "scale" ? PatchMeta.Instance.DefinitionOf("autoscaling/v1", "Scale") : PatchMeta.Instance.DefinitionOf(rt.ApiVersion, rt.Kind);
                if (definition is null)
                {
                    throw ApiException.UnsupportedMediaType("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json");
                }
                var patch = DecodeValidated(http, await ReadBodyAsync(http).ConfigureAwait(false), MediaTypes.Json);
                if (patch is not JsonObject patchObject)
                {
                    throw ApiException.BadRequest("json: cannot unmarshal into Go value of type map[string]interface {}");
                }
                return target =>
                {
                    try
                    {
                        return StrategicMergePatch.Apply(target, patchObject, definition);
                    }
                    catch (PatchException e)
                    {
                        throw new ApiException(422, "Invalid", e.Message);
                    }
                };
            }
            case MediaTypes.ApplyPatch:
                throw ApiException.UnsupportedMediaType("server-side apply (application/apply-patch+yaml) is not supported on this subresource - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json");
            default:
                throw ApiException.UnsupportedMediaType($"the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json");
        }
    }

    private static async Task WriteEntryAsync(HttpContext http, int status, ResourceType rt, StoreEntry entry)
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

    private static async Task WriteJsonAsync(HttpContext http, int status, JsonNode node)
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

    private static async Task WriteStatusAsync(HttpContext http, ApiException e)
    {
        if (http.Response.HasStarted)
        {
            return;
        }
        await WriteJsonAsync(http, e.Code, e.ToStatus()).ConfigureAwait(false);
    }
}
