namespace Tugboat.Storage;

/// <summary>
/// An ordered in-memory index of keys. With history it keeps every version (an MVCC index, used by the memory store);
/// without it only the latest live value of each key (the read cache in front of SQLite).
/// Thread-safe: readers share a lock, <see cref="Apply"/> takes it exclusively.
/// </summary>
internal sealed class KeyIndex(bool keepHistory)
{
    private readonly SortedSet<string> _keys = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<Version>> _versions = new(StringComparer.Ordinal);
    private readonly ReaderWriterLockSlim _lock = new(LockRecursionPolicy.NoRecursion);

    /// <summary>The revision of the last change applied.</summary>
    public long Revision { get; private set; }

    private readonly record struct Version(long Revision, long CreateRevision, ReadOnlyMemory<byte>? Value);

    public void Apply(IReadOnlyList<StoreEvent> events, long revision)
    {
        _lock.EnterWriteLock();
        try
        {
            foreach (var e in events)
            {
                if (!_versions.TryGetValue(e.Key, out var list))
                {
                    if (e.Type == StoreEventType.Delete && !keepHistory)
                    {
                        continue;
                    }
                    list = new List<Version>(1);
                    _versions[e.Key] = list;
                    _keys.Add(e.Key);
                }
                var version = new Version(e.Revision, e.CreateRevision, e.Type == StoreEventType.Put ? e.Value : (ReadOnlyMemory<byte>?)null);
                if (keepHistory)
                {
                    list.Add(version);
                }
                else if (e.Type == StoreEventType.Delete)
                {
                    _versions.Remove(e.Key);
                    _keys.Remove(e.Key);
                }
                else if (list.Count == 0)
                {
                    list.Add(version);
                }
                else
                {
                    list[0] = version;
                }
            }
            Revision = revision;
        }
        finally
        {
            _lock.ExitWriteLock();
        }
    }

    /// <summary>Loads a latest value at start-up.</summary>
    public void Load(StoreEntry entry)
    {
        _versions[entry.Key] = [new Version(entry.ModRevision, entry.CreateRevision, entry.Value)];
        _keys.Add(entry.Key);
    }

    public void SetRevision(long revision) => Revision = revision;

    /// <summary>
    /// Reads <paramref name="key"/> at <paramref name="revision"/> (0 = latest). Returns false when this index cannot answer
    /// for that revision (no history and the revision is not the latest).
    /// </summary>
    public bool TryGet(string key, long revision, out StoreEntry? entry)
    {
        _lock.EnterReadLock();
        try
        {
            entry = null;
            if (!keepHistory && revision != 0 && revision != Revision)
            {
                return false;
            }
            if (_versions.TryGetValue(key, out var list))
            {
                var v = Find(list, revision);
                if (v is { Value: not null } found)
                {
                    entry = new StoreEntry(key, found.Value.Value, found.CreateRevision, found.Revision);
                }
            }
            return true;
        }
        finally
        {
            _lock.ExitReadLock();
        }
    }

    /// <summary>Lists as <see cref="IStore.ListAsync"/>; returns null when this index cannot answer for that revision.</summary>
    public ListResult? TryList(string prefix, string? startAfter, int limit, long revision)
    {
        _lock.EnterReadLock();
        try
        {
            if (!keepHistory && revision != 0 && revision != Revision)
            {
                return null;
            }
            var atRevision = revision == 0 ? Revision : revision;
            var items = new List<StoreEntry>();
            var more = false;
            foreach (var key in Range(prefix, startAfter))
            {
                var v = Find(_versions[key], revision);
                if (v is not { Value: not null } found)
                {
                    continue;
                }
                if (limit > 0 && items.Count == limit)
                {
                    more = true;
                    break;
                }
                items.Add(new StoreEntry(key, found.Value.Value, found.CreateRevision, found.Revision));
            }
            return new ListResult(items, atRevision, more);
        }
        finally
        {
            _lock.ExitReadLock();
        }
    }

    public long Count(string prefix)
    {
        _lock.EnterReadLock();
        try
        {
            long n = 0;
            foreach (var key in Range(prefix, null))
            {
                if (Find(_versions[key], 0) is { Value: not null })
                {
                    n++;
                }
            }
            return n;
        }
        finally
        {
            _lock.ExitReadLock();
        }
    }

    /// <summary>Drops versions superseded at or below <paramref name="revision"/>, and keys deleted at or below it.</summary>
    public void Compact(long revision)
    {
        if (!keepHistory)
        {
            return;
        }
        _lock.EnterWriteLock();
        try
        {
            var empty = new List<string>();
            foreach (var (key, list) in _versions)
            {
                var lastAtOrBelow = -1;
                for (var i = 0; i < list.Count && list[i].Revision <= revision; i++)
                {
                    lastAtOrBelow = i;
                }
                if (lastAtOrBelow < 0)
                {
                    continue;
                }
                var removeCount = list[lastAtOrBelow].Value is null ? lastAtOrBelow + 1 : lastAtOrBelow;
                list.RemoveRange(0, removeCount);
                if (list.Count == 0)
                {
                    empty.Add(key);
                }
            }
            foreach (var key in empty)
            {
                _versions.Remove(key);
                _keys.Remove(key);
            }
        }
        finally
        {
            _lock.ExitWriteLock();
        }
    }

    private IEnumerable<string> Range(string prefix, string? startAfter)
    {
        var lower = startAfter is not null && string.CompareOrdinal(startAfter, prefix) > 0 ? startAfter : prefix;
        var upper = prefix + '\uffff';
        if (string.CompareOrdinal(lower, upper) > 0)
        {
            yield break;
        }
        foreach (var key in _keys.GetViewBetween(lower, upper))
        {
            if (!key.StartsWith(prefix, StringComparison.Ordinal))
            {
                yield break;
            }
            if (startAfter is not null && string.CompareOrdinal(key, startAfter) <= 0)
            {
                continue;
            }
            yield return key;
        }
    }

    private static Version? Find(List<Version> list, long revision)
    {
        if (list.Count == 0)
        {
            return null;
        }
        if (revision == 0)
        {
            return list[^1];
        }
        for (var i = list.Count - 1; i >= 0; i--)
        {
            if (list[i].Revision <= revision)
            {
                return list[i];
            }
        }
        return null;
    }
}
