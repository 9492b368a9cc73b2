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

    public static string KeyOf(JsonObject obj)
    {
        var ns = obj["metadata"]?["namespace"]?.GetValue<string>();
        var name = obj["metadata"]?["name"]?.GetValue<string>() ?? string.Empty;
        return string.IsNullOrEmpty(ns) ? name : ns + "/" + name;
    }

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
                var (items, rv) = await client.ListAsync(collectionPath, labelSelector, FieldSelector, StripManagedFields, ct).ConfigureAwait(false);
                Replace(items);
                _synced.TrySetResult();
                using var watchCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
                if (resync is { } period)
                {
                    watchCts.CancelAfter(period);
                }
                try
                {
                    await foreach (var (type, obj) in client.WatchAsync(collectionPath, rv, labelSelector, FieldSelector, StripManagedFields, watchCts.Token).ConfigureAwait(false))
                    {
                        if (type == "ERROR")
                        {
                            break;
                        }
                        if (type == "BOOKMARK")
                        {
                            continue;
                        }
                        Apply(type, obj);
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

    private void Apply(string type, JsonObject obj)
    {
        var key = KeyOf(obj);
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
        if (type == "DELETED")
        {
            Deleted?.Invoke(obj);
        }
        else if (old is null)
        {
            Added?.Invoke(obj);
        }
        else
        {
            Updated?.Invoke(old, obj);
        }
    }

    /// <summary>Replaces the cache with a fresh list, telling handlers what was added, changed (or resynced) and removed.</summary>
    private void Replace(List<JsonObject> items)
    {
        Dictionary<string, JsonObject> previous;
        lock (_gate)
        {
            previous = new Dictionary<string, JsonObject>(_cache, StringComparer.Ordinal);
            _cache.Clear();
            foreach (var item in items)
            {
                _cache[KeyOf(item)] = item;
            }
        }
        foreach (var item in items)
        {
            if (previous.Remove(KeyOf(item), out var old))
            {
                Updated?.Invoke(old, item);
            }
            else
            {
                Added?.Invoke(item);
            }
        }
        foreach (var gone in previous.Values)
        {
            Deleted?.Invoke(gone);
        }
    }
}
