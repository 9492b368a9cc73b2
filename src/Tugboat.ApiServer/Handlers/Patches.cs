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

/// <summary>Patch bodies (JSON, merge and strategic merge patches) turned into the function that applies them.</summary>
internal static class Patches
{
    /// <summary>Upstream's bound on the operations of one JSON patch.</summary>
    internal const int MaxJsonPatchOperations = 10_000;

    /// <summary>Reads a patch body and returns the function that applies it.</summary>
    internal static async Task<Func<JsonObject, JsonNode?>> ReadPatchAsync(HttpContext http, ResourceType rt, string subresource)
    {
        var apply = await ReadPatchFunctionAsync(http, rt, subresource).ConfigureAwait(false);
        var (apiVersion, kind) = subresource == "scale" ? ("autoscaling/v1", "Scale") : (rt.ApiVersion, rt.Kind);
        return target => apply(target) is JsonObject patched ? CheckFields(http, patched, apiVersion, kind) : throw ApiException.BadRequest("the patch did not produce an object");
    }

    internal static async Task<Func<JsonObject, JsonNode?>> ReadPatchFunctionAsync(HttpContext http, ResourceType rt, string subresource)
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
                        return JsonPatch.Apply(target, patch, Bodies.MaxBodyBytes);
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

    /// <summary>A patch written against a served version, applied to the stored object through the conversion.</summary>
    internal static Func<JsonObject, JsonNode?> Converted(ResourceType served, Func<JsonObject, JsonNode?> apply) =>
        served.Converter is not { } converter ? apply : stored => apply(converter.FromStored(stored)) is JsonObject patched ? converter.ToStored(patched) : null;
}
