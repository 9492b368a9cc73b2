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

namespace Tugboat.ApiServer.Handlers;

/// <summary>
/// Request bodies: read within the size bound, decoded from JSON, YAML or protobuf with upstream's errors, and checked
/// against the request's fieldValidation (duplicate and unknown fields).
/// </summary>
internal static class Bodies
{
    /// <summary>The largest request body the server reads (upstream: 3 MiB).</summary>
    public const int MaxBodyBytes = 3 * 1024 * 1024;

    internal static async Task<byte[]> ReadBodyAsync(HttpContext http)
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

    internal static string ContentType(HttpContext http) =>
        (http.Request.ContentType ?? MediaTypes.Json).Split(';')[0].Trim().ToLowerInvariant();

    /// <summary>
    /// Reads a JSON or YAML object body meant to be a <paramref name="kind"/>; anything else is 415, malformed input
    /// 400 with upstream's "the object provided is unrecognized" and a summary of the body.
    /// </summary>
    internal static async Task<JsonObject> ReadObjectAsync(HttpContext http, string kind, bool checkKind = true)
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
    internal static string Summarize(byte[] body)
    {
        const int max = 30;
        var head = body.AsSpan(0, Math.Min(body.Length, max));
        var more = body.Length > max ? " ..." : string.Empty;
        return body.Length == 0 ? "<empty>"
            : body[0] == (byte)'{' ? Encoding.UTF8.GetString(head) + more
            : Convert.ToHexStringLower(head) + more;
    }

    internal static async Task<JsonObject?> ReadOptionalObjectAsync(HttpContext http)
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

    internal static JsonNode? Decode(byte[] body, string contentType)
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
    internal sealed class DuplicateFieldException(byte[] body) : Exception("duplicate field")
    {
        public byte[] Body { get; } = body;
    }

    /// <summary>
    /// Upstream's fieldValidation for duplicate fields: Strict rejects the request, Warn answers with a Warning header,
    /// Ignore keeps the last value. Unknown-field detection needs the typed schemas and is not done yet.
    /// </summary>
    internal static JsonNode? DecodeValidated(HttpContext http, byte[] body, string contentType)
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
    internal static JsonObject CheckFields(HttpContext http, JsonObject obj, string apiVersion, string kind) =>
        CheckFields(http, obj, apiVersion, kind, UnknownFields.Prune(obj, apiVersion, kind));

    internal static JsonObject CheckFields(HttpContext http, JsonObject obj, string apiVersion, string kind, List<string> unknown)
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

    internal static JsonObject CheckFields(HttpContext http, JsonObject obj, ResourceType rt) =>
        CheckFields(http, obj, rt.ApiVersion, rt.Kind, rt.Strategy.Prune(obj, rt.ApiVersion, rt.Kind));

    internal static JsonNode? LastWins(JsonElement element, string path, List<string> duplicates)
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
}
