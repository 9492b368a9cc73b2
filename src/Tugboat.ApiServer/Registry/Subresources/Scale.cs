using System.Text.Json.Nodes;
using Tugboat.Api.Meta;
using Tugboat.Storage;

namespace Tugboat.ApiServer.Registry;

/// <summary>The autoscaling/v1 Scale subresource of workload kinds.</summary>
internal static class Scale
{
    public static JsonObject FromObject(ResourceType rt, JsonObject obj)
    {
        var meta = obj.Meta();
        var scaleMeta = new JsonObject();
        foreach (var k in (ReadOnlySpan<string>)["name", "namespace", "uid", "resourceVersion", "creationTimestamp"])
        {
            if (meta[k] is { } v)
            {
                scaleMeta[k] = v.DeepClone();
            }
        }
        return new JsonObject
        {
            ["kind"] = "Scale",
            ["apiVersion"] = "autoscaling/v1",
            ["metadata"] = scaleMeta,
            ["spec"] = new JsonObject { ["replicas"] = obj.Long(rt.ScaleSpecReplicas) ?? 0 },
            ["status"] = new JsonObject
            {
                ["replicas"] = obj.Long(rt.ScaleStatusReplicas) ?? 0,
                ["selector"] = rt.ScaleSelector is { } path ? obj.Str(path) ?? string.Empty : LabelSelector.FromJson(obj.At("spec", "selector")).ToString(),
            },
        };
    }

    /// <summary>Writes a Scale's spec.replicas into the owning object; the Scale's resourceVersion is a precondition.</summary>
    public static async Task<StoreEntry> UpdateAsync(Registry registry, ResourceType rt, string? ns, string name, JsonObject scale, bool dryRun, CancellationToken ct, FieldOwner? owner = null)
    {
        if (scale.Str("kind") is { } kind && kind != "Scale")
        {
            throw ApiException.BadRequest($"the API version in the data ({scale.Str("apiVersion")}) does not match the expected API version (autoscaling/v1)");
        }
        var replicas = scale.Long("spec", "replicas");
        if (replicas is null or < 0)
        {
            throw ApiException.Invalid("Scale", "autoscaling", name, [replicas is null
                ? FieldError.Required("spec.replicas")
                : FieldError.Invalid("spec.replicas", replicas.Value, "must be greater than or equal to 0")]);
        }
        var current = await registry.GetRequiredAsync(rt, ns, name, ct).ConfigureAwait(false);
        var obj = ObjectCodec.Decode(current);
        if (scale.Str("metadata", "resourceVersion") is { Length: > 0 } rv)
        {
            obj.Meta()["resourceVersion"] = rv;
        }
        else
        {
            obj.Meta().Remove("resourceVersion");
        }
        var target = obj;
        foreach (var part in rt.ScaleSpecReplicas[..^1])
        {
            target = target.Ensure(part);
        }
        target[rt.ScaleSpecReplicas[^1]] = replicas.Value;
        obj["apiVersion"] = rt.ApiVersion;
        return await registry.UpdateAsync(rt, ns, name, obj, string.Empty, dryRun, ct, owner is null ? null : owner with { Subresource = "scale" }).ConfigureAwait(false);
    }
}
