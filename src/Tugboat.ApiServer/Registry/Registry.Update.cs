using System.Globalization;
using System.Text.Json.Nodes;
using Tugboat.Api.Apply;
using Tugboat.Storage;

namespace Tugboat.ApiServer.Registry;

internal sealed partial class Registry
{
    /// <summary>
    /// Replaces an object (PUT). <paramref name="subresource"/> "status" replaces only the status; "" replaces everything
    /// but the status (for kinds with a status subresource) and the fields the server owns.
    /// A resourceVersion in the body is a precondition; without one the update is unconditional.
    /// </summary>
    public async Task<StoreEntry> UpdateAsync(ResourceType rt, string? ns, string name, JsonObject obj, string subresource, bool dryRun, CancellationToken ct = default, FieldOwner? owner = null)
    {
        var precondition = PrepareUpdate(rt, ns, name, obj);
        for (var attempt = 0; ; attempt++)
        {
            var current = await GetAsync(rt, ns, name, ct).ConfigureAwait(false);
            if (current is null)
            {
                if (rt.Strategy.AllowCreateOnUpdate && subresource.Length == 0)
                {
                    obj.Meta().Remove("resourceVersion");
                    return await CreateAsync(rt, ns, obj, dryRun, ct, owner).ConfigureAwait(false);
                }
                throw ApiException.NotFound(rt.QualifiedName, name);
            }
            if (precondition != 0 && precondition != current.ModRevision)
            {
                throw ApiException.Conflict(rt.QualifiedName, name);
            }
            var old = ObjectCodec.Decode(current);
            var next = Merge(rt, (JsonObject)obj.DeepClone(), old, subresource, fromStored: false);
            var result = await WriteUpdateAsync(rt, ns, name, next, old, current, subresource, dryRun, owner, ct).ConfigureAwait(false);
            if (result is not null)
            {
                return result;
            }
            if (precondition != 0 || attempt > 10)
            {
                throw ApiException.Conflict(rt.QualifiedName, name);
            }
        }
    }

    /// <summary>Checks an object sent for <paramref name="name"/> and fills in its name and namespace; returns its resourceVersion precondition (0: none).</summary>
    private static long PrepareUpdate(ResourceType rt, string? ns, string name, JsonObject obj)
    {
        CheckTypeMeta(rt, obj);
        var meta = obj.Meta();
        var bodyName = meta.Str("name");
        if (string.IsNullOrEmpty(bodyName))
        {
            meta["name"] = name;
        }
        else if (bodyName != name)
        {
            throw ApiException.BadRequest($"the name of the object ({bodyName}) does not match the name on the URL ({name})");
        }
        SetNamespace(rt, ns, meta);
        return ParseResourceVersion(meta.Str("resourceVersion"));
    }

    /// <summary>Builds the object to store from a client's object and the stored one.</summary>
    /// <param name="updated">The object as written; taken over (its parts may move into the result).</param>
    /// <param name="fromStored">
    /// <paramref name="updated"/> was made from a copy of <paramref name="old"/> (a patch), so where a status write left
    /// everything else as it was, and for bindings, it is the result as it stands, without another copy of the stored
    /// object.
    /// </param>
    private JsonObject Merge(ResourceType rt, JsonObject updated, JsonObject old, string subresource, bool fromStored)
    {
        JsonObject next;
        if (subresource == "status")
        {
            // Status writes change only the status (upstream resets everything else, metadata included). A patch
            // that removed the status altogether takes the long way, which stores an explicit null.
            if (fromStored && (updated.ContainsKey("status") || !old.ContainsKey("status")) && SameExcept(updated, old, "status"))
            {
                return updated;
            }
            next = (JsonObject)old.DeepClone();
            next["status"] = Detach(updated, "status");
        }
        else if (subresource == "binding")
        {
            // A binding is the server's own change (pods/binding sets spec.nodeName and the PodScheduled condition
            // and nothing else), so a binding made from the stored object is the result as it stands.
            if (fromStored)
            {
                return updated;
            }
            next = (JsonObject)old.DeepClone();
            next.Ensure("spec")["nodeName"] = updated.Str("spec", "nodeName");
            next["status"] = Detach(updated, "status");
        }
        else if (subresource == "finalize")
        {
            next = (JsonObject)old.DeepClone();
            next.Ensure("spec")["finalizers"] = updated.At("spec", "finalizers")?.DeepClone() ?? new JsonArray();
        }
        else
        {
            next = updated;
            var meta = next.Meta();
            var oldMeta = old.Meta();
            foreach (var owned in (ReadOnlySpan<string>)["uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation", "namespace"])
            {
                if (oldMeta[owned] is { } v)
                {
                    meta[owned] = v.DeepClone();
                }
                else
                {
                    meta.Remove(owned);
                }
            }
            meta.Remove("selfLink");
            if (rt.HasStatus)
            {
                if (old["status"] is { } status)
                {
                    next["status"] = status.DeepClone();
                }
                else
                {
                    next.Remove("status");
                }
            }
            rt.Strategy.PrepareForUpdate(next, old);
        }
        return next;
    }

    /// <summary>Removes a property and returns its value, free to be placed in another object.</summary>
    private static JsonNode? Detach(JsonObject obj, string name) => obj.Remove(name, out var value) ? value : null;

    /// <summary>
    /// Whether two objects have the same properties in the same order with deep-equal values, leaving out the one named
    /// (which either may have or lack, with any value). Same order, so that the stored bytes come out as the stored
    /// object's would.
    /// </summary>
    private static bool SameExcept(JsonObject a, JsonObject b, string except)
    {
        int i = 0, j = 0;
        while (true)
        {
            while (i < a.Count && a.GetAt(i).Key == except)
            {
                i++;
            }
            while (j < b.Count && b.GetAt(j).Key == except)
            {
                j++;
            }
            if (i == a.Count || j == b.Count)
            {
                return i == a.Count && j == b.Count;
            }
            var (key, value) = a.GetAt(i++);
            var (otherKey, otherValue) = b.GetAt(j++);
            if (key != otherKey || !JsonNode.DeepEquals(value, otherValue))
            {
                return false;
            }
        }
    }

    /// <summary>Validates and stores an update; returns null when the stored object changed underneath (retry).</summary>
    private async Task<StoreEntry?> WriteUpdateAsync(ResourceType rt, string? ns, string name, JsonObject next, JsonObject old, StoreEntry current, string subresource, bool dryRun, FieldOwner? owner, CancellationToken ct)
    {
        // Status and binding writes take everything but their own part from the stored object: their strategy may
        // spare itself defaulting and checking the rest again, and only the main resource is checked against the
        // stored spec.
        var keepsStored = subresource is "status" or "binding";
        if (keepsStored)
        {
            rt.Strategy.DefaultSubresource(next);
        }
        else
        {
            rt.Strategy.Default(next);
        }
        TrackFields(rt, old, next, subresource, owner);
        Validate(rt, next, subresource.Length == 0 ? old : null, keepsStored);
        var ctx = new RequestContext { Registry = this, Namespace = ns, DryRun = dryRun };
        await rt.Strategy.AllocateAsync(next, old, ctx).ConfigureAwait(false);
        if (rt.Strategy.TracksGeneration && SpecChanged(next, old))
        {
            next.Meta()["generation"] = (old.Long("metadata", "generation") ?? 0) + 1;
        }
        var bytes = ObjectCodec.Encode(next);
        // Writing an identical object is a no-op that keeps the resourceVersion, as upstream. Stored values are
        // canonical encodings, so the stored bytes are what the unchanged object encodes to.
        if (bytes.AsSpan().SequenceEqual(current.Value.Span) || dryRun)
        {
            return dryRun ? new StoreEntry(current.Key, bytes, current.CreateRevision, current.ModRevision) : current;
        }
        if (IsReadyForRemoval(next))
        {
            var del = await Store.DeleteAsync(current.Key, current.ModRevision, ct).ConfigureAwait(false);
            return del.Status switch
            {
                WriteStatus.Ok => new StoreEntry(current.Key, bytes, current.CreateRevision, del.Revision),
                WriteStatus.NotFound => throw ApiException.NotFound(rt.QualifiedName, name),
                _ => null,
            };
        }
        var result = await Store.UpdateAsync(current.Key, bytes, current.ModRevision, ct).ConfigureAwait(false);
        return result.Status switch
        {
            WriteStatus.Ok => result.Entry,
            WriteStatus.NotFound => throw ApiException.NotFound(rt.QualifiedName, name),
            _ => null,
        };
    }

    /// <summary>
    /// Records in metadata.managedFields which fields <paramref name="owner"/> set (writes without an owner, such as
    /// server-side applies that computed their own, keep what they carry or else the stored entries).
    /// </summary>
    private static void TrackFields(ResourceType rt, JsonObject? old, JsonObject next, string subresource, FieldOwner? owner)
    {
        var meta = next.Meta();
        if (owner is null)
        {
            if (meta["managedFields"] is null && old?.At("metadata", "managedFields") is { } kept)
            {
                meta["managedFields"] = kept.DeepClone();
            }
            return;
        }
        var managed = FieldManager.Update(old, next, rt.FieldType, owner.Manager, owner.ApiVersion, owner.Subresource ?? (subresource.Length == 0 ? null : subresource), rt.TrackedFields(subresource), DateTimeOffset.UtcNow);
        if (managed is null)
        {
            meta.Remove("managedFields");
        }
        else
        {
            meta["managedFields"] = managed;
        }
    }

    /// <summary>An object being deleted goes once its last finalizer is gone.</summary>
    private static bool IsReadyForRemoval(JsonObject obj)
    {
        if (obj.Str("metadata", "deletionTimestamp") is null)
        {
            return false;
        }
        if (obj.Arr("metadata", "finalizers") is { Count: > 0 })
        {
            return false;
        }
        // Namespaces also wait for their spec finalizers (the namespace controller removes "kubernetes").
        return obj.Arr("spec", "finalizers") is not { Count: > 0 } || obj.Str("kind") != "Namespace";
    }

    private static bool SpecChanged(JsonObject next, JsonObject old)
    {
        foreach (var (k, v) in next)
        {
            if (k is "metadata" or "status" or "apiVersion" or "kind")
            {
                continue;
            }
            if (!JsonNode.DeepEquals(v, old[k]))
            {
                return true;
            }
        }
        foreach (var (k, _) in old)
        {
            if (k is not ("metadata" or "status" or "apiVersion" or "kind") && !next.ContainsKey(k))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>
    /// Applies a patch computed by <paramref name="apply"/> to the current object (or to its Scale view), retrying on
    /// conflicts unless the patch itself names a resourceVersion.
    /// </summary>
    public async Task<StoreEntry> PatchAsync(ResourceType rt, string? ns, string name, Func<JsonObject, JsonNode?> apply, string subresource, bool dryRun, CancellationToken ct = default, FieldOwner? owner = null)
    {
        for (var attempt = 0; ; attempt++)
        {
            var current = await GetRequiredAsync(rt, ns, name, ct).ConfigureAwait(false);
            var old = ObjectCodec.Decode(current);
            var view = subresource == "scale" ? Scale.FromObject(rt, old) : (JsonObject)old.DeepClone();
            if (subresource != "scale")
            {
                // Custom resources stored in another version are patched as the version of the request.
                view["apiVersion"] = rt.ApiVersion;
            }
            var patched = apply(view) as JsonObject ?? throw ApiException.BadRequest("the patch did not produce an object");
            var patchedRv = patched.Str("metadata", "resourceVersion");
            // A patch that names another resourceVersion is a precondition: its conflicts are the client's to see.
            var pinned = !string.IsNullOrEmpty(patchedRv) && patchedRv != current.ModRevision.ToString(CultureInfo.InvariantCulture);
            try
            {
                if (subresource == "scale")
                {
                    return await Scale.UpdateAsync(this, rt, ns, name, patched, dryRun, ct, owner).ConfigureAwait(false);
                }
                // The patched object was made from the entry just read: it is written against that entry's revision
                // (a conflict means the object changed in between, and the patch is applied again to the new one).
                var precondition = PrepareUpdate(rt, ns, name, patched);
                if (precondition != 0 && precondition != current.ModRevision)
                {
                    throw ApiException.Conflict(rt.QualifiedName, name);
                }
                var next = Merge(rt, patched, old, subresource, fromStored: true);
                return await WriteUpdateAsync(rt, ns, name, next, old, current, subresource, dryRun, owner, ct).ConfigureAwait(false)
                    ?? throw ApiException.Conflict(rt.QualifiedName, name);
            }
            catch (ApiException e) when (e.Reason == "Conflict" && !pinned && attempt < 10)
            {
            }
        }
    }

    private static long ParseResourceVersion(string? rv)
    {
        if (string.IsNullOrEmpty(rv))
        {
            return 0;
        }
        if (!long.TryParse(rv, NumberStyles.None, CultureInfo.InvariantCulture, out var value))
        {
            throw ApiException.BadRequest($"invalid resource version: {rv}");
        }
        return value;
    }
}
