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

/// <summary>Server-side apply of an object or its status.</summary>
internal sealed class ApplyHandler(Registry.Registry registry)
{
    /// <summary>
    /// Server-side apply (PATCH with application/apply-patch+yaml): merges the caller's configuration into the object,
    /// or creates it, and records the caller as the owner of the fields it applied; conflicts with other managers'
    /// fields are 409 unless force=true.
    /// </summary>
    public async Task ApplyAsync(HttpContext http, ResourceType served, string? ns, string name, string subresource, bool dryRun)
    {
        var rt = served.StoredAs ?? served;
        var query = http.Request.Query;
        var manager = query["fieldManager"].ToString();
        if (manager.Length == 0)
        {
            throw ApiException.Invalid("PatchOptions", "meta.k8s.io", string.Empty, [FieldError.Required("fieldManager", "is required for apply patch")]);
        }
        Owner(http, served);
        var force = IsTrue(query["force"]);
        if (DecodeValidated(http, await ReadBodyAsync(http).ConfigureAwait(false), MediaTypes.ApplyPatch) is not JsonObject body)
        {
            throw ApiException.BadRequest("error decoding YAML: the applied configuration must be an object");
        }
        if (body.Str("apiVersion") is not { } apiVersion || body.Str("kind") is not { } kind)
        {
            throw ApiException.BadRequest("Object 'Kind' is missing in the applied configuration, or its apiVersion is missing");
        }
        if (apiVersion != served.ApiVersion || kind != served.Kind)
        {
            throw ApiException.BadRequest($"the applied configuration is a {kind} of {apiVersion}, but the request is for a {served.Kind} of {served.ApiVersion}");
        }
        var config = CheckFields(http, body, served);
        var meta = config["metadata"] as JsonObject ?? new JsonObject();
        config["metadata"] = meta;
        if (meta["managedFields"] is not null)
        {
            throw ApiException.BadRequest("metadata.managedFields must be nil");
        }
        if (meta.Str("name") is { } bodyName && bodyName != name)
        {
            throw ApiException.BadRequest($"the name of the object ({bodyName}) does not match the name on the URL ({name})");
        }
        meta["name"] = name;
        var sub = subresource.Length == 0 ? null : subresource;
        var tracked = rt.TrackedFields(subresource);
        // kubectl's server-side applies upgrade from client-side apply as upstream's do: conflicts with fields of the
        // last-applied-configuration annotation that still hold their applied values are taken over, and the
        // annotation is kept in step with what was applied (so a later client-side apply still works).
        var upgradesClientSideApply = manager == "kubectl";
        JsonObject Apply(JsonObject? live)
        {
            try
            {
                var allowed = upgradesClientSideApply && live is not null ? FieldManager.AllowedByLastApplied(live, served.FieldType, tracked) : null;
                var applied = FieldManager.Apply(live, config, served.FieldType, manager, served.ApiVersion, sub, force, tracked, DateTimeOffset.UtcNow, allowed);
                if (upgradesClientSideApply && applied.Obj("metadata", "annotations") is { } annotations && annotations.ContainsKey(FieldManager.LastAppliedAnnotation))
                {
                    annotations[FieldManager.LastAppliedAnnotation] = LastApplied(config);
                }
                return applied;
            }
            catch (ApplyConflictException e)
            {
                throw new ApiException(409, "Conflict", e.Message)
                {
                    Details = new JsonObject
                    {
                        ["causes"] = new JsonArray(e.Conflicts.Select(c => (JsonNode)new JsonObject
                        {
                            ["reason"] = "FieldManagerConflict",
                            ["message"] = "conflict with " + c.Manager.Describe(),
                            ["field"] = c.Path,
                        }).ToArray()),
                    },
                };
            }
        }
        var ct = http.RequestAborted;
        try
        {
            var patched = await registry.PatchAsync(rt, ns, name, Converted(served, live => Apply(live)), subresource, dryRun, ct).ConfigureAwait(false);
            await WriteEntryAsync(http, 200, served, patched).ConfigureAwait(false);
        }
        catch (ApiException e) when (e.Code == 404 && subresource.Length == 0 && e.Reason == "NotFound")
        {
            var created = await registry.CreateAsync(rt, ns, ToStored(served, Apply(null)), dryRun, ct).ConfigureAwait(false);
            await WriteEntryAsync(http, 201, served, created).ConfigureAwait(false);
        }
    }

    /// <summary>Upstream's buildLastApplied: the applied configuration as JSON, without the annotation itself.</summary>
    private static string LastApplied(JsonObject config)
    {
        var copy = (JsonObject)config.DeepClone();
        if (copy.Obj("metadata", "annotations") is { } annotations)
        {
            annotations.Remove(FieldManager.LastAppliedAnnotation);
        }
        // As kubectl writes it: compact JSON and a newline.
        return ObjectCodec.ToJsonString(copy) + "\n";
    }
}
