namespace Tugboat.Storage;

/// <summary>An in-memory store with full MVCC history until compacted. For unit tests; nothing survives the process.</summary>
public sealed class MemoryStore : StoreBase
{
    private readonly List<StoreEvent> _log = [];
    private readonly ReaderWriterLockSlim _logLock = new();

    public MemoryStore()
        : base(indexKeepsHistory: true)
    {
        Start(0, 0);
    }

    protected override void Persist(IReadOnlyList<StoreEvent> events)
    {
        _logLock.EnterWriteLock();
        try
        {
            _log.AddRange(events);
        }
        finally
        {
            _logLock.ExitWriteLock();
        }
    }

    protected override IEnumerable<StoreEvent> ReadHistory(string prefix, long after, long upTo)
    {
        StoreEvent[] snapshot;
        _logLock.EnterReadLock();
        try
        {
            snapshot = _log.Where(e => e.Revision > after && e.Revision <= upTo && e.Key.StartsWith(prefix, StringComparison.Ordinal)).ToArray();
        }
        finally
        {
            _logLock.ExitReadLock();
        }
        return snapshot;
    }

    // The MVCC index answers every revision still in history.
    protected override StoreEntry? GetHistorical(string key, long revision) =>
        throw new InvalidOperationException("the memory store's index keeps history");

    protected override ListResult ListHistorical(string prefix, string? startAfter, int limit, long revision) =>
        throw new InvalidOperationException("the memory store's index keeps history");

    protected override void CompactRange(long from, long to, long compactRevision)
    {
        _logLock.EnterWriteLock();
        try
        {
            _log.RemoveAll(e => e.Revision <= to);
        }
        finally
        {
            _logLock.ExitWriteLock();
        }
    }
}
