namespace Tugboat.Storage;

/// <summary>
/// A revisioned key-value store in the shape of kine's backend: one global revision that every
/// write advances by exactly one. Keys are ordinal strings such as <c>/registry/pods/default/web</c>.
/// Implementations are safe for concurrent use.
/// </summary>
public interface IStore : IAsyncDisposable
{
    /// <summary>The revision of the latest acknowledged write (0 for an empty store).</summary>
    long CurrentRevision { get; }

    /// <summary>Revisions at or below this one may have been compacted away; reads and watches there fail with <see cref="CompactedException"/>.</summary>
    long CompactRevision { get; }

    /// <summary>The value of <paramref name="key"/> as of <paramref name="revision"/> (0 = latest), or null when absent at that revision.</summary>
    ValueTask<StoreEntry?> GetAsync(string key, long revision = 0, CancellationToken cancellationToken = default);

    /// <summary>
    /// Live keys starting with <paramref name="prefix"/>, ordered by key, strictly after <paramref name="startAfter"/> when given,
    /// at most <paramref name="limit"/> (0 = all), as of <paramref name="revision"/> (0 = latest).
    /// The result's revision is the one the listing was read at, to be passed back for the next page.
    /// </summary>
    ValueTask<ListResult> ListAsync(string prefix, string? startAfter = null, int limit = 0, long revision = 0, CancellationToken cancellationToken = default);

    /// <summary>Number of live keys with <paramref name="prefix"/> at the latest revision.</summary>
    ValueTask<long> CountAsync(string prefix, CancellationToken cancellationToken = default);

    /// <summary>Creates <paramref name="key"/>; fails with <see cref="WriteStatus.AlreadyExists"/> when it is live.</summary>
    ValueTask<WriteResult> CreateAsync(string key, ReadOnlyMemory<byte> value, CancellationToken cancellationToken = default);

    /// <summary>
    /// Replaces <paramref name="key"/> when its current modification revision equals <paramref name="expectedRevision"/>
    /// (0 = unconditionally). Fails with <see cref="WriteStatus.NotFound"/> or <see cref="WriteStatus.Conflict"/>
    /// (the result then carries the current entry).
    /// </summary>
    ValueTask<WriteResult> UpdateAsync(string key, ReadOnlyMemory<byte> value, long expectedRevision, CancellationToken cancellationToken = default);

    /// <summary>Deletes <paramref name="key"/> under the same precondition as <see cref="UpdateAsync"/>; the result's entry is the deleted value.</summary>
    ValueTask<WriteResult> DeleteAsync(string key, long expectedRevision, CancellationToken cancellationToken = default);

    /// <summary>
    /// Streams every change to keys with <paramref name="prefix"/> after <paramref name="afterRevision"/> (pass
    /// <see cref="CurrentRevision"/> for "from now on"), in revision order,
    /// first those still in history and then live ones, until cancelled.
    /// Throws <see cref="CompactedException"/> when <paramref name="afterRevision"/> is older than the compacted history.
    /// </summary>
    IStoreWatch Watch(string prefix, long afterRevision);

    /// <summary>Drops history at or below <paramref name="revision"/> (keeping each key's latest value) in small batches.</summary>
    ValueTask CompactAsync(long revision, CancellationToken cancellationToken = default);
}

/// <summary>A running watch. Disposing it stops delivery.</summary>
public interface IStoreWatch : IDisposable
{
    /// <summary>Events in revision order. Completes with <see cref="WatchOverflowException"/> when the reader falls too far behind.</summary>
    System.Threading.Channels.ChannelReader<StoreEvent> Events { get; }
}

/// <summary>One stored value. <see cref="ModRevision"/> is the revision of the write that produced it.</summary>
public sealed record StoreEntry(string Key, ReadOnlyMemory<byte> Value, long CreateRevision, long ModRevision);

/// <summary>A page of a listing read at <see cref="Revision"/>; <see cref="More"/> tells whether keys remain after the last one.</summary>
public sealed record ListResult(IReadOnlyList<StoreEntry> Items, long Revision, bool More);

public enum WriteStatus
{
    Ok,
    AlreadyExists,
    NotFound,
    Conflict,
}

/// <summary>
/// Outcome of a write. On <see cref="WriteStatus.Ok"/>, <see cref="Revision"/> is the new global revision and
/// <see cref="Entry"/> the written value (for deletes, the deleted value). On a failed precondition, <see cref="Entry"/>
/// is the current value when there is one.
/// </summary>
public readonly record struct WriteResult(WriteStatus Status, long Revision, StoreEntry? Entry);

public enum StoreEventType
{
    Put,
    Delete,
}

/// <summary>
/// One change. For puts, <see cref="Value"/> is the new value; for deletes, the last value before deletion.
/// <see cref="PrevValue"/> is the value before this change (null on create) and <see cref="PrevRevision"/> its revision (0 on create).
/// </summary>
public sealed record StoreEvent(
    StoreEventType Type,
    string Key,
    long Revision,
    long CreateRevision,
    long PrevRevision,
    ReadOnlyMemory<byte> Value,
    ReadOnlyMemory<byte>? PrevValue)
{
    public bool IsCreate => Type == StoreEventType.Put && CreateRevision == Revision;
}

/// <summary>The requested revision has been compacted away.</summary>
public sealed class CompactedException(long requested, long compacted)
    : Exception($"revision {requested} has been compacted (compacted up to {compacted})")
{
    public long Requested { get; } = requested;
    public long Compacted { get; } = compacted;
}

/// <summary>A watcher fell too far behind and was dropped; the caller should re-list.</summary>
public sealed class WatchOverflowException() : Exception("watcher fell too far behind and was closed");

/// <summary>A revision in the future was requested.</summary>
public sealed class FutureRevisionException(long requested, long current)
    : Exception($"revision {requested} is newer than the current revision {current}")
{
    public long Requested { get; } = requested;
    public long Current { get; } = current;
}
