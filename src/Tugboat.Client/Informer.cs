using System.Text.Json.Nodes;

namespace Tugboat.Client;

/// <summary>
/// Keeps an up-to-date cache of a collection by listing it and then watching from the list's resourceVersion, as
/// client-go's informers do; re-lists when the watch ends or its resourceVersion expired, and periodically replays
/// every cached object as an update (resync) so that level-based handlers converge.
/// Handlers run on the informer's loop and should only enqueue keys.
/// </summary>
public sealed class Informer(ApiClient client, string collectionPath, string? labelSelector = null, TimeSpan? resync = null)
{
    private readonly object _gate = new();
    private readonly Dictionary<string, JsonObject> _cache = new(StringComparer.Ordinal);
    private readonly TaskCompletionSource _synced = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// Drop metadata.managedFields from cached objects, as kube-controller-manager and kube-scheduler do with their
    /// informers: controllers never read them, and they are often the larger part of an object. They are cut from the
    /// server's bytes before parsing (see <see cref="CachedJson"/>), so the cache does not keep them alive either.
    /// </summary>
    public bool StripManagedFields { get; init; }

    /// <summary>A field selector for the list and watch (e.g. <c>spec.nodeName=node-1</c>), or null.</summary>
    public string? FieldSelector { get; init; }

    public event Action<JsonObject>? Added;

    public event Action<JsonObject, JsonObject>? Updated;

    public event Action<JsonObject>? Deleted;

    /// <summary>Completes once the first list is in the cache.</summary>
    public Task Synced => _synced.Task;

    // The object being handed to handlers and the one it replaces, with their key: handlers ask for the key of what
    // they are given, and reading it from the parsed tree would make the tree build its metadata for that alone.
    [ThreadStatic]
    private static JsonObject? t_dispatched;

    [ThreadStatic]
    private static JsonObject? t_replaced;

    [ThreadStatic]
    private static string? t_dispatchedKey;

    /// <summary>An object's cache key: <c>namespace/name</c>, or the name of a cluster-scoped object.</summary>
    public static string KeyOf(JsonObject obj)
    {
        if ((ReferenceEquals(obj, t_dispatched) || ReferenceEquals(obj, t_replaced)) && t_dispatchedKey is { } known)
        {
            return known;
        }
        return Key(obj["metadata"]?["namespace"]?.GetValue<string>(), obj["metadata"]?["name"]?.GetValue<string>());
    }

    /// <summary>The cache key of an object with this namespace (none for cluster-scoped objects) and name.</summary>
    internal static string Key(string? ns, string? name) => string.IsNullOrEmpty(ns) ? name ?? string.Empty : ns + "/" + name;

    public JsonObject? Get(string key)
    {
        lock (_gate)
        {
            return _cache.GetValueOrDefault(key);
        }
    }

    public List<JsonObject> List()
    {
        lock (_gate)
        {
            return [.. _cache.Values];
        }
    }

    private Task? _run;

    /// <summary>
    /// Lists and watches until <paramref name="ct"/> is cancelled. An informer runs once however many components
    /// share it: later calls return the running loop.
    /// </summary>
    public Task RunAsync(CancellationToken ct)
    {
        lock (_gate)
        {
            return _run ??= RunLoopAsync(ct);
        }
    }

    private async Task RunLoopAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var (items, rv) = StripManagedFields
                    ? await client.ListCachedAsync(collectionPath, labelSelector, FieldSelector, ct).ConfigureAwait(false)
                    : await ListKeyedAsync(ct).ConfigureAwait(false);
                Replace(items);
                _synced.TrySetResult();
                using var watchCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
                if (resync is { } period)
                {
                    watchCts.CancelAfter(period);
                }
                try
                {
                    var events = StripManagedFields
                        ? client.WatchCachedAsync(collectionPath, rv, labelSelector, FieldSelector, watchCts.Token)
                        : WatchKeyedAsync(rv, watchCts.Token);
                    await foreach (var (type, obj, key) in events.ConfigureAwait(false))
                    {
                        if (type == "ERROR")
                        {
                            break;
                        }
                        if (type == "BOOKMARK")
                        {
                            continue;
                        }
                        Apply(type, obj, key);
                    }
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    // Resync period elapsed: re-list, which replays every object as an update.
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is ApiError or HttpRequestException or IOException or System.Text.Json.JsonException)
            {
                await Task.Delay(TimeSpan.FromSeconds(1), ct).ConfigureAwait(false);
            }
        }
    }

    private async Task<(List<(JsonObject Object, string Key)> Items, string ResourceVersion)> ListKeyedAsync(CancellationToken ct)
    {
        var (items, rv) = await client.ListAsync(collectionPath, labelSelector, FieldSelector, ct).ConfigureAwait(false);
        return (items.ConvertAll(i => (i, KeyOf(i))), rv);
    }

    private async IAsyncEnumerable<(string Type, JsonObject Object, string Key)> WatchKeyedAsync(string rv, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        await foreach (var (type, obj) in client.WatchAsync(collectionPath, rv, labelSelector, FieldSelector, ct).ConfigureAwait(false))
        {
            yield return (type, obj, type is "ERROR" or "BOOKMARK" ? string.Empty : KeyOf(obj));
        }
    }

    private void Apply(string type, JsonObject obj, string key)
    {
        JsonObject? old;
        lock (_gate)
        {
            _cache.TryGetValue(key, out old);
            if (type == "DELETED")
            {
                _cache.Remove(key);
            }
            else
            {
                _cache[key] = obj;
            }
        }
        Dispatch(type == "DELETED" ? "DELETED" : old is null ? "ADDED" : "MODIFIED", key, obj, old);
    }

    /// <summary>Runs the handlers of an event for <paramref name="obj"/> (replacing <paramref name="old"/>) with its key known to <see cref="KeyOf"/>.</summary>
    private void Dispatch(string type, string key, JsonObject obj, JsonObject? old)
    {
        (t_dispatched, t_replaced, t_dispatchedKey) = (obj, old, key);
        try
        {
            switch (type)
            {
                case "DELETED":
                    Deleted?.Invoke(obj);
                    break;
                case "ADDED":
                    Added?.Invoke(obj);
                    break;
                default:
                    Updated?.Invoke(old!, obj);
                    break;
            }
        }
        finally
        {
            (t_dispatched, t_replaced, t_dispatchedKey) = (null, null, null);
        }
    }

    /// <summary>Replaces the cache with a fresh list, telling handlers what was added, changed (or resynced) and removed.</summary>
    private void Replace(List<(JsonObject Object, string Key)> items)
    {
        Dictionary<string, JsonObject> previous;
        lock (_gate)
        {
            previous = new Dictionary<string, JsonObject>(_cache, StringComparer.Ordinal);
            _cache.Clear();
            foreach (var (item, key) in items)
            {
                _cache[key] = item;
            }
        }
        foreach (var (item, key) in items)
        {
            if (previous.Remove(key, out var old))
            {
                Dispatch("MODIFIED", key, item, old);
            }
            else
            {
                Dispatch("ADDED", key, item, null);
            }
        }
        foreach (var (key, gone) in previous)
        {
            Dispatch("DELETED", key, gone, null);
        }
    }
}
