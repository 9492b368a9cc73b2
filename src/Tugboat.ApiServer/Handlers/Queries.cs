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

/// <summary>Query parameters every verb shares: list options, dryRun, field manager.</summary>
internal static class Queries
{
    internal static ListOptions ParseListOptions(IQueryCollection query)
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
    internal static string CheckResourceVersion(string rv)
    {
        if (rv.Length == 0 || long.TryParse(rv, NumberStyles.None, CultureInfo.InvariantCulture, out _))
        {
            return rv;
        }
        var why = rv.All(char.IsAsciiDigit) ? "value out of range" : "invalid syntax";
        throw ApiException.BadRequest($"invalid resource version: resourceVersion: Invalid value: \"{rv}\": strconv.ParseUint: parsing \"{rv}\": {why}");
    }

    internal static bool IsTrue(StringValues v) => v.Count > 0 && (v[0] is "1" or "true" or "True");

    internal static bool DryRun(StringValues v)
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

    internal static JsonObject ToStored(ResourceType served, JsonObject body) => served.Converter?.ToStored(body) ?? body;

    /// <summary>
    /// The field manager of a write: the fieldManager parameter, else (as upstream) the client's user agent up to its
    /// first "/". Upstream allows at most 128 characters.
    /// </summary>
    internal static FieldOwner Owner(HttpContext http, ResourceType served)
    {
        var manager = http.Request.Query["fieldManager"].ToString();
        if (manager.Length == 0)
        {
            manager = http.Request.Headers.UserAgent.ToString().Split('/')[0];
            manager = manager.Length > 128 ? manager[..128] : manager;
        }
        else if (manager.Length > 128)
        {
            throw ApiException.Invalid("PatchOptions", "meta.k8s.io", string.Empty, [FieldError.Invalid("fieldManager", manager, "must be less than 128 characters")]);
        }
        if (IsTrue(http.Request.Query["force"]) && ContentType(http) != MediaTypes.ApplyPatch)
        {
            throw ApiException.Invalid("PatchOptions", "meta.k8s.io", string.Empty, [FieldError.Forbidden("force", "may not be specified for non-apply patch")]);
        }
        return new FieldOwner(manager, served.ApiVersion);
    }
}
