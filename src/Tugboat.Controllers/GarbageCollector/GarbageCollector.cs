using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Tugboat.Client;
using Tugboat.Controllers.Runtime;
using static Tugboat.Controllers.Runtime.Owners;

namespace Tugboat.Controllers.GarbageCollector;

/// <summary>
/// Upstream's garbage collector for the built-in kinds that own and are owned (workloads, pods, services, slices, volume claims): when every owner of an object is gone
/// (checked against the API, not only the caches) the object is deleted in the background; an owner being deleted in
/// the foreground (finalizer <c>foregroundDeletion</c>) waits for its dependents to go first; an owner deleted with
/// <c>orphan</c> has its dependents released. Objects whose owners are of kinds it does not watch are left alone.
/// </summary>
public sealed class GarbageCollector : IReconciler
{
    private static readonly (string ApiVersion, string Kind, string Collection)[] Kinds =
    [
        ("v1", "Pod", "/api/v1/pods"),
        ("apps/v1", "ReplicaSet", "/apis/apps/v1/replicasets"),
        ("apps/v1", "Deployment", "/apis/apps/v1/deployments"),
        ("apps/v1", "StatefulSet", "/apis/apps/v1/statefulsets"),
        ("apps/v1", "DaemonSet", "/apis/apps/v1/daemonsets"),
        ("apps/v1", "ControllerRevision", "/apis/apps/v1/controllerrevisions"),
        ("batch/v1", "Job", "/apis/batch/v1/jobs"),
        ("batch/v1", "CronJob", "/apis/batch/v1/cronjobs"),
        ("discovery.k8s.io/v1", "EndpointSlice", "/apis/discovery.k8s.io/v1/endpointslices"),
        ("v1", "ReplicationController", "/api/v1/replicationcontrollers"),
        ("v1", "Service", "/api/v1/services"),
        ("v1", "PersistentVolumeClaim", "/api/v1/persistentvolumeclaims"),
    ];

    private readonly ApiClient _client;
    private readonly List<Informer> _informers = [];
    private readonly ConcurrentDictionary<string, (int Kind, string Key)> _byUid = new(StringComparer.Ordinal);

    public GarbageCollector(ApiClient client, InformerFactory informers, WorkQueue<string> queue)
    {
        _client = client;
        Queue = queue;
        for (var i = 0; i < Kinds.Length; i++)
        {
            var kind = i;
            var informer = informers.For(Kinds[i].Collection, TimeSpan.FromMinutes(5));
            informer.Added += o => Observe(kind, o, deleted: false);
            informer.Updated += (_, o) => Observe(kind, o, deleted: false);
            informer.Deleted += o => Observe(kind, o, deleted: true);
            _informers.Add(informer);
        }
    }

    public WorkQueue<string> Queue { get; }

    public IReadOnlyList<Informer> Informers => _informers;

    private void Observe(int kind, JsonObject obj, bool deleted)
    {
        var uid = obj["metadata"]?["uid"]?.GetValue<string>() ?? string.Empty;
        var key = Informer.KeyOf(obj);
        if (deleted)
        {
            _byUid.TryRemove(uid, out _);
            // Its dependents may now be orphans; its owners may be waiting for it (foreground deletion).
            foreach (var (depKind, dependent) in DependentsOf(uid))
            {
                Queue.Add(depKind + "|" + Informer.KeyOf(dependent));
            }
        }
        else
        {
            _byUid[uid] = (kind, key);
            Queue.Add(kind + "|" + key);
        }
        foreach (var owner in OwnerRefs(obj))
        {
            if (_byUid.TryGetValue(owner["uid"]?.GetValue<string>() ?? string.Empty, out var o))
            {
                Queue.Add(o.Kind + "|" + o.Key);
            }
        }
    }

    public async Task ReconcileAsync(string key, CancellationToken ct)
    {
        var bar = key.IndexOf('|');
        var kind = int.Parse(key[..bar], System.Globalization.CultureInfo.InvariantCulture);
        var obj = _informers[kind].Get(key[(bar + 1)..]);
        if (obj is null)
        {
            return;
        }
        var uid = obj["metadata"]!["uid"]!.GetValue<string>();
        var finalizers = obj["metadata"]?["finalizers"]?.AsArray().Select(f => f?.GetValue<string>()).ToList() ?? [];
        if (Deleting(obj) && finalizers.Contains("foregroundDeletion"))
        {
            var dependents = DependentsOf(uid).ToList();
            foreach (var (depKind, dependent) in dependents.Where(d => !Deleting(d.Object)))
            {
                await DeleteAsync(depKind, dependent, "Foreground", ct).ConfigureAwait(false);
            }
            if (dependents.Count == 0)
            {
                await RemoveFinalizerAsync(kind, obj, "foregroundDeletion", ct).ConfigureAwait(false);
            }
            return;
        }
        if (Deleting(obj) && finalizers.Contains("orphan"))
        {
            foreach (var (depKind, dependent) in DependentsOf(uid))
            {
                var refs = OwnerRefs(dependent).Where(r => r["uid"]?.GetValue<string>() != uid).ToList();
                await PatchAsync(depKind, dependent, new JsonObject { ["metadata"] = new JsonObject { ["ownerReferences"] = ListOrNull(refs) } }, ct).ConfigureAwait(false);
            }
            await RemoveFinalizerAsync(kind, obj, "orphan", ct).ConfigureAwait(false);
            return;
        }
        var owners = OwnerRefs(obj).ToList();
        if (owners.Count == 0 || Deleting(obj))
        {
            return;
        }
        var absent = new List<JsonObject>();
        foreach (var owner in owners)
        {
            var ownerKind = Array.FindIndex(Kinds, k => k.Kind == owner["kind"]?.GetValue<string>() && k.ApiVersion == owner["apiVersion"]?.GetValue<string>());
            if (ownerKind < 0)
            {
                return;
            }
            if (_byUid.ContainsKey(owner["uid"]?.GetValue<string>() ?? string.Empty))
            {
                continue;
            }
            // The cache may lag behind a new owner: only the API's answer makes an owner absent.
            if (!await ExistsAsync(ownerKind, Namespace(obj), owner, ct).ConfigureAwait(false))
            {
                absent.Add(owner);
            }
        }
        if (absent.Count == owners.Count)
        {
            await DeleteAsync(kind, obj, "Background", ct).ConfigureAwait(false);
        }
        else if (absent.Count > 0)
        {
            await PatchAsync(kind, obj, new JsonObject { ["metadata"] = new JsonObject { ["ownerReferences"] = ListOrNull(owners.Where(o => !absent.Contains(o)).ToList()) } }, ct).ConfigureAwait(false);
        }
    }

    private IEnumerable<(int Kind, JsonObject Object)> DependentsOf(string uid)
    {
        for (var i = 0; i < _informers.Count; i++)
        {
            foreach (var o in _informers[i].List())
            {
                if (OwnerRefs(o).Any(r => r["uid"]?.GetValue<string>() == uid))
                {
                    yield return (i, o);
                }
            }
        }
    }

    private static IEnumerable<JsonObject> OwnerRefs(JsonObject obj) =>
        obj["metadata"]?["ownerReferences"]?.AsArray().OfType<JsonObject>() ?? [];

    private static string PathOf(int kind, string ns, string name)
    {
        var collection = Kinds[kind].Collection;
        var cut = collection.LastIndexOf('/');
        return $"{collection[..cut]}/namespaces/{ns}{collection[cut..]}/{name}";
    }

    private async Task<bool> ExistsAsync(int kind, string ns, JsonObject owner, CancellationToken ct)
    {
        try
        {
            var live = await _client.GetAsync(PathOf(kind, ns, owner["name"]!.GetValue<string>()), ct).ConfigureAwait(false);
            return live["metadata"]?["uid"]?.GetValue<string>() == owner["uid"]?.GetValue<string>();
        }
        catch (ApiError e) when (e.IsNotFound)
        {
            return false;
        }
    }

    private async Task DeleteAsync(int kind, JsonObject obj, string propagation, CancellationToken ct)
    {
        try
        {
            await _client.DeleteAsync(PathOf(kind, Namespace(obj), Name(obj)), new JsonObject
            {
                ["apiVersion"] = "v1",
                ["kind"] = "DeleteOptions",
                ["propagationPolicy"] = propagation,
                ["preconditions"] = new JsonObject { ["uid"] = obj["metadata"]!["uid"]!.DeepClone() },
            }, ct).ConfigureAwait(false);
        }
        catch (ApiError e) when (e.IsNotFound || e.IsConflict)
        {
        }
    }

    private async Task PatchAsync(int kind, JsonObject obj, JsonObject patch, CancellationToken ct)
    {
        try
        {
            await _client.MergePatchAsync(PathOf(kind, Namespace(obj), Name(obj)), patch, ct).ConfigureAwait(false);
        }
        catch (ApiError e) when (e.IsNotFound)
        {
        }
    }

    private Task RemoveFinalizerAsync(int kind, JsonObject obj, string finalizer, CancellationToken ct)
    {
        var rest = obj["metadata"]!["finalizers"]!.AsArray().Where(f => f?.GetValue<string>() != finalizer).OfType<JsonNode>().ToList();
        return PatchAsync(kind, obj, new JsonObject { ["metadata"] = new JsonObject { ["finalizers"] = ListOrNull(rest), ["resourceVersion"] = obj["metadata"]!["resourceVersion"]!.DeepClone() } }, ct);
    }

    /// <summary>A list for a merge patch; an empty one is removed (null), as Go's omitempty leaves empty lists out.</summary>
    private static JsonArray? ListOrNull<T>(List<T> items)
        where T : JsonNode
    {
        return items.Count == 0 ? null : new JsonArray(items.Select(i => i.DeepClone()).ToArray());
    }
}
