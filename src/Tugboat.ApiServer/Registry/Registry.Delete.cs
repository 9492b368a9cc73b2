using System.Globalization;
using System.Text.Json.Nodes;
using Tugboat.Storage;

namespace Tugboat.ApiServer.Registry;

/// <summary>What a delete did: the object is gone (<see cref="Deleted"/>) or is now being deleted (finalizers, grace period).</summary>
internal sealed record DeleteOutcome(StoreEntry Entry, bool Deleted);

internal sealed partial class Registry
{
    public async Task<DeleteOutcome> DeleteAsync(ResourceType rt, string? ns, string name, DeleteOptions options, CancellationToken ct = default)
    {
        rt.Strategy.CheckDelete(name);
        for (var attempt = 0; ; attempt++)
        {
            var current = await GetRequiredAsync(rt, ns, name, ct).ConfigureAwait(false);
            var obj = ObjectCodec.Decode(current);
            CheckPreconditions(rt, name, obj, options);
            var outcome = await TryDeleteAsync(rt, obj, current, options, ct).ConfigureAwait(false);
            if (outcome is not null)
            {
                return outcome;
            }
            if (attempt > 10)
            {
                throw ApiException.Conflict(rt.QualifiedName, name);
            }
        }
    }

    private static void CheckPreconditions(ResourceType rt, string name, JsonObject obj, DeleteOptions options)
    {
        if (options.PreconditionUid is { Length: > 0 } uid && uid != obj.Str("metadata", "uid"))
        {
            throw ApiException.Conflict(rt.QualifiedName, name, $"Precondition failed: UID in precondition: {uid}, UID in object meta: {obj.Str("metadata", "uid")}");
        }
        if (options.PreconditionResourceVersion is { Length: > 0 } rv && rv != obj.Str("metadata", "resourceVersion"))
        {
            throw ApiException.Conflict(rt.QualifiedName, name, $"Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {obj.Str("metadata", "resourceVersion")}");
        }
    }

    /// <summary>One delete attempt; null when the object changed underneath.</summary>
    private async Task<DeleteOutcome?> TryDeleteAsync(ResourceType rt, JsonObject obj, StoreEntry current, DeleteOptions options, CancellationToken ct)
    {
        var meta = obj.Meta();
        var finalizers = meta.Arr("finalizers") ?? new JsonArray();
        var changed = false;
        var orphanOrForeground = options.PropagationPolicy switch
        {
            "Orphan" => "orphan",
            "Foreground" => "foregroundDeletion",
            _ => null,
        };
        // The garbage collector honours these finalizers; recording them here is the API server's part.
        if (orphanOrForeground is not null && !finalizers.Any(f => f?.GetValue<string>() == orphanOrForeground))
        {
            finalizers.Add(orphanOrForeground);
            meta["finalizers"] = finalizers;
            changed = true;
        }
        var grace = GracePeriod(rt, obj, options);
        var alreadyDeleting = meta.Str("deletionTimestamp") is not null;
        var waitsForNamespaceFinalizers = rt.Group.Length == 0 && rt.Kind == "Namespace" && obj.Arr("spec", "finalizers") is { Count: > 0 };
        var mustWait = finalizers.Count > 0 || grace > 0 || waitsForNamespaceFinalizers;
        if (!mustWait)
        {
            if (options.DryRun)
            {
                return new DeleteOutcome(current, true);
            }
            var del = await Store.DeleteAsync(current.Key, current.ModRevision, ct).ConfigureAwait(false);
            return del.Status switch
            {
                WriteStatus.Ok => new DeleteOutcome(new StoreEntry(current.Key, ObjectCodec.Encode(obj), current.CreateRevision, del.Revision), true),
                WriteStatus.NotFound => throw ApiException.NotFound(rt.QualifiedName, meta.Str("name")!),
                _ => null,
            };
        }
        if (!alreadyDeleting)
        {
            meta["deletionTimestamp"] = Clock.GetUtcNow().UtcDateTime.AddSeconds(grace).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
            meta["deletionGracePeriodSeconds"] = grace;
            if (waitsForNamespaceFinalizers)
            {
                obj.Ensure("status")["phase"] = "Terminating";
            }
            changed = true;
        }
        else if (rt.Kind == "Pod" && grace < (meta.Long("deletionGracePeriodSeconds") ?? long.MaxValue))
        {
            // A shorter grace period than the one in progress takes over, as upstream.
            meta["deletionTimestamp"] = Clock.GetUtcNow().UtcDateTime.AddSeconds(grace).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
            meta["deletionGracePeriodSeconds"] = grace;
            changed = true;
        }
        if (!changed || options.DryRun)
        {
            return new DeleteOutcome(new StoreEntry(current.Key, ObjectCodec.Encode(obj), current.CreateRevision, current.ModRevision), false);
        }
        var result = await Store.UpdateAsync(current.Key, ObjectCodec.Encode(obj), current.ModRevision, ct).ConfigureAwait(false);
        return result.Status switch
        {
            WriteStatus.Ok => new DeleteOutcome(result.Entry!, false),
            WriteStatus.NotFound => throw ApiException.NotFound(rt.QualifiedName, meta.Str("name")!),
            _ => null,
        };
    }

    /// <summary>
    /// Only pods are deleted gracefully (their node agent finishes the deletion); a pod that never reached a node, or has
    /// finished, goes at once.
    /// </summary>
    private static long GracePeriod(ResourceType rt, JsonObject obj, DeleteOptions options)
    {
        if (rt.Group.Length != 0 || rt.Kind != "Pod")
        {
            return 0;
        }
        if (string.IsNullOrEmpty(obj.Str("spec", "nodeName")) || obj.Str("status", "phase") is "Succeeded" or "Failed")
        {
            return 0;
        }
        var grace = options.GracePeriodSeconds ?? obj.Long("spec", "terminationGracePeriodSeconds") ?? 30;
        return Math.Max(0, grace);
    }
}
