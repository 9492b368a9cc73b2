using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Tugboat.Api.Serialization;
using Tugboat.Storage;

namespace Tugboat.ApiServer.Registry;

/// <summary>A page of a list: entries, the revision it was read at, and the continue token when more remain.</summary>
internal sealed record ListOutcome(IReadOnlyList<StoreEntry> Items, long Revision, string? Continue);

/// <summary>One watch event for the wire.</summary>
internal readonly record struct WatchEvent(string Type, ReadOnlyMemory<byte> Value, long ResourceVersion, JsonObject? Error = null);

internal sealed partial class Registry
{
    private const string TooOldContinue = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

    /// <summary>Checks that every field in a field selector is supported by the kind; upstream answers 400 otherwise.</summary>
    public static void CheckFieldSelector(ResourceType rt, ListOptions options)
    {
        foreach (var r in options.Fields.Requirements)
        {
            if (r.Field is not ("metadata.name" or "metadata.namespace") && !rt.Strategy.SelectableFields.Contains(r.Field))
            {
                throw ApiException.BadRequest($"field label not supported: {r.Field}");
            }
        }
    }

    public async Task<ListOutcome> ListAsync(ResourceType rt, string? ns, ListOptions options, CancellationToken ct = default)
    {
        CheckFieldSelector(rt, options);
        var prefix = rt.CollectionPrefix(ns);
        long revision = 0;
        string? startAfter = null;
        if (!string.IsNullOrEmpty(options.Continue))
        {
            (revision, startAfter) = ContinueToken.Decode(options.Continue, prefix);
        }
        else if (options.ResourceVersionMatch == "Exact" && ParseRv(options.ResourceVersion) is > 0 and var exact)
        {
            revision = exact;
        }
        else if (options.ResourceVersionMatch is not (null or "" or "Exact" or "NotOlderThan"))
        {
            throw ApiException.BadRequest($"resourceVersionMatch: Unsupported value: \"{options.ResourceVersionMatch}\": supported values: \"Exact\", \"NotOlderThan\", \"\"");
        }
        var items = new List<StoreEntry>();
        var limit = options.Limit;
        try
        {
            while (true)
            {
                var want = limit > 0 ? Math.Max(limit - items.Count, options.HasSelectors ? 256 : 0) : 0;
                var page = await Store.ListAsync(prefix, startAfter, want, revision, ct).ConfigureAwait(false);
                revision = page.Revision;
                string? lastKey = null;
                foreach (var e in page.Items)
                {
                    lastKey = e.Key;
                    if (options.HasSelectors && !Matches(rt, e.Value, options))
                    {
                        continue;
                    }
                    items.Add(e);
                    if (limit > 0 && items.Count == limit)
                    {
                        var more = page.More || !ReferenceEquals(e, page.Items[^1]);
                        return new ListOutcome(items, revision, more ? ContinueToken.Encode(revision, prefix, e.Key) : null);
                    }
                }
                if (!page.More || lastKey is null)
                {
                    return new ListOutcome(items, revision, null);
                }
                startAfter = lastKey;
            }
        }
        catch (CompactedException)
        {
            throw string.IsNullOrEmpty(options.Continue)
                ? ApiException.Expired($"too old resource version: {revision} ({Store.CompactRevision})")
                : ApiException.Expired(TooOldContinue);
        }
        catch (FutureRevisionException)
        {
            throw new ApiException(504, "Timeout", $"Too large resource version: {revision}, current: {Store.CurrentRevision}");
        }
    }

    private static long ParseRv(string? rv) =>
        long.TryParse(rv, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v
            : string.IsNullOrEmpty(rv) ? 0 : throw ApiException.BadRequest($"invalid resource version: {rv}");

    /// <summary>Whether a stored value matches the label and field selectors.</summary>
    public static bool Matches(ResourceType rt, ReadOnlyMemory<byte> value, ListOptions options)
    {
        if (!options.HasSelectors)
        {
            return true;
        }
        if (value.IsEmpty)
        {
            return false;
        }
        var obj = JsonLimits.Parse(value.Span) as JsonObject;
        if (obj is null)
        {
            return false;
        }
        if (!options.Labels.IsEmpty && !options.Labels.Matches(obj.Labels()))
        {
            return false;
        }
        return options.Fields.IsEmpty || options.Fields.Matches(f => f switch
        {
            "metadata.name" => obj.Str("metadata", "name"),
            "metadata.namespace" => obj.Str("metadata", "namespace"),
            _ => rt.Strategy.GetField(obj, f),
        });
    }

    /// <summary>
    /// Watches a collection. With no resourceVersion (or "0") it first sends the current objects as ADDED, then changes;
    /// with one it sends changes after it, or a single ERROR event (410 Expired) when that revision was compacted.
    /// Objects that stop matching the selectors are sent as DELETED and those that start matching as ADDED.
    /// </summary>
    public async IAsyncEnumerable<WatchEvent> WatchAsync(ResourceType rt, string? ns, ListOptions options, [EnumeratorCancellation] CancellationToken ct = default)
    {
        CheckFieldSelector(rt, options);
        var prefix = rt.CollectionPrefix(ns);
        var rv = ParseRv(options.ResourceVersion);
        long from;
        List<StoreEntry>? initial = null;
        if (rv == 0)
        {
            var snapshot = await Store.ListAsync(prefix, cancellationToken: ct).ConfigureAwait(false);
            from = snapshot.Revision;
            initial = snapshot.Items.Where(e => Matches(rt, e.Value, options)).ToList();
        }
        else
        {
            from = rv;
        }
        IStoreWatch watch;
        try
        {
            watch = Store.Watch(prefix, from);
        }
        catch (CompactedException e)
        {
            watch = null!;
            initial = null;
            from = -e.Compacted;
        }
        if (from < 0)
        {
            yield return new WatchEvent("ERROR", default, 0, new JsonObject
            {
                ["kind"] = "Status",
                ["apiVersion"] = "v1",
                ["metadata"] = new JsonObject(),
                ["status"] = "Failure",
                ["message"] = $"too old resource version: {rv} ({-from})",
                ["reason"] = "Expired",
                ["code"] = 410,
            });
            yield break;
        }
        using var _ = watch;
        foreach (var e in initial ?? [])
        {
            yield return new WatchEvent("ADDED", e.Value, e.ModRevision);
        }
        var lastSeen = from;
        var bookmarkEvery = TimeSpan.FromSeconds(15);
        var reader = watch.Events;
        while (!ct.IsCancellationRequested)
        {
            StoreEvent? next = null;
            bool closed = false, bookmark = false;
            using (var tick = CancellationTokenSource.CreateLinkedTokenSource(ct))
            {
                if (options.AllowBookmarks)
                {
                    tick.CancelAfter(bookmarkEvery);
                }
                try
                {
                    next = await reader.ReadAsync(tick.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    bookmark = true;
                }
                catch (OperationCanceledException)
                {
                    closed = true;
                }
                catch (ChannelClosedException)
                {
                    closed = true;
                }
            }
            if (closed)
            {
                yield break;
            }
            if (bookmark)
            {
                yield return new WatchEvent("BOOKMARK", default, lastSeen);
                continue;
            }
            var ev = next!;
            lastSeen = ev.Revision;
            var nowMatches = ev.Type == StoreEventType.Put && Matches(rt, ev.Value, options);
            var wasMatching = ev.PrevValue is { } prev && Matches(rt, prev, options);
            if (ev.Type == StoreEventType.Delete)
            {
                if (wasMatching)
                {
                    yield return new WatchEvent("DELETED", ev.Value, ev.Revision);
                }
            }
            else if (nowMatches)
            {
                yield return new WatchEvent(ev.PrevValue is null || !wasMatching ? "ADDED" : "MODIFIED", ev.Value, ev.Revision);
            }
            else if (wasMatching)
            {
                yield return new WatchEvent("DELETED", ev.Value, ev.Revision);
            }
        }
    }
}
