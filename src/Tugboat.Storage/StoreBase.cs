using System.Threading.Channels;

namespace Tugboat.Storage;

/// <summary>
/// What every backend shares: a single writer thread that checks preconditions and commits queued writes in groups
/// (concurrent writers share one durable commit), the in-memory <see cref="KeyIndex"/> that answers reads of the latest
/// revision, and the watch hub that replays history and then streams live changes.
/// A backend supplies durability (<see cref="Persist"/>) and history (<see cref="ReadHistory"/> and the historical reads).
/// </summary>
public abstract class StoreBase : IStore
{
    private const int MaxBatch = 2048;
    private const int WatchBufferLimit = 200_000;

    private readonly Channel<PendingOp> _queue = Channel.CreateUnbounded<PendingOp>(new UnboundedChannelOptions { SingleReader = true });
    private readonly object _publishLock = new();
    private readonly List<Watcher> _watchers = [];
    private Thread? _writer;
    private long _currentRevision;
    private long _compactRevision;

    internal KeyIndex Index { get; }

    protected StoreBase(bool indexKeepsHistory)
    {
        Index = new KeyIndex(indexKeepsHistory);
    }

    public long CurrentRevision => Interlocked.Read(ref _currentRevision);

    public long CompactRevision => Interlocked.Read(ref _compactRevision);

    /// <summary>Starts the writer once the backend has loaded its state.</summary>
    protected void Start(long currentRevision, long compactRevision)
    {
        _currentRevision = currentRevision;
        _compactRevision = compactRevision;
        Index.SetRevision(currentRevision);
        _writer = new Thread(WriterLoop) { IsBackground = true, Name = "tugboat-store-writer" };
        _writer.Start();
    }

    /// <summary>Makes <paramref name="events"/> durable, atomically; returns only once they survive a crash.</summary>
    protected abstract void Persist(IReadOnlyList<StoreEvent> events);

    /// <summary>Changes to keys with <paramref name="prefix"/> in (<paramref name="after"/>, <paramref name="upTo"/>], in order.</summary>
    protected abstract IEnumerable<StoreEvent> ReadHistory(string prefix, long after, long upTo);

    /// <summary>A read at a past revision that the index cannot answer.</summary>
    protected abstract StoreEntry? GetHistorical(string key, long revision);

    /// <summary>A listing at a past revision that the index cannot answer.</summary>
    protected abstract ListResult ListHistorical(string prefix, string? startAfter, int limit, long revision);

    /// <summary>Removes compactable history in (<paramref name="from"/>, <paramref name="to"/>]; runs on the writer thread.</summary>
    protected abstract void CompactRange(long from, long to, long compactRevision);

    public ValueTask<StoreEntry?> GetAsync(string key, long revision = 0, CancellationToken cancellationToken = default)
    {
        CheckRevision(revision);
        if (Index.TryGet(key, revision, out var entry))
        {
            return ValueTask.FromResult(entry);
        }
        return ValueTask.FromResult(GetHistorical(key, revision));
    }

    public ValueTask<ListResult> ListAsync(string prefix, string? startAfter = null, int limit = 0, long revision = 0, CancellationToken cancellationToken = default)
    {
        CheckRevision(revision);
        var result = Index.TryList(prefix, startAfter, limit, revision) ?? ListHistorical(prefix, startAfter, limit, revision);
        return ValueTask.FromResult(result);
    }

    public ValueTask<long> CountAsync(string prefix, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(Index.Count(prefix));

    public ValueTask<WriteResult> CreateAsync(string key, ReadOnlyMemory<byte> value, CancellationToken cancellationToken = default) =>
        Enqueue(new PendingOp(OpKind.Create, key, value, 0));

    public ValueTask<WriteResult> UpdateAsync(string key, ReadOnlyMemory<byte> value, long expectedRevision, CancellationToken cancellationToken = default) =>
        Enqueue(new PendingOp(OpKind.Update, key, value, expectedRevision));

    public ValueTask<WriteResult> DeleteAsync(string key, long expectedRevision, CancellationToken cancellationToken = default) =>
        Enqueue(new PendingOp(OpKind.Delete, key, default, expectedRevision));

    public async ValueTask CompactAsync(long revision, CancellationToken cancellationToken = default)
    {
        if (revision > CurrentRevision)
        {
            throw new FutureRevisionException(revision, CurrentRevision);
        }
        // Small batches through the writer queue, so that writes interleave with compaction instead of waiting on it.
        const long step = 1000;
        var from = CompactRevision;
        while (from < revision)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var to = Math.Min(from + step, revision);
            await Enqueue(new PendingOp(OpKind.Compact, string.Empty, default, 0) { CompactFrom = from, CompactTo = to, CompactFinal = revision }).ConfigureAwait(false);
            from = to;
        }
    }

    public IStoreWatch Watch(string prefix, long afterRevision)
    {
        Watcher watcher;
        long snapshot;
        lock (_publishLock)
        {
            if (afterRevision < CompactRevision)
            {
                throw new CompactedException(afterRevision, CompactRevision);
            }
            snapshot = CurrentRevision;
            watcher = new Watcher(this, prefix, afterRevision, catchingUp: afterRevision < snapshot);
            _watchers.Add(watcher);
        }
        if (watcher.CatchingUp)
        {
            _ = Task.Run(() => CatchUp(watcher, snapshot));
        }
        return watcher;
    }

    private void CatchUp(Watcher watcher, long snapshot)
    {
        try
        {
            foreach (var e in ReadHistory(watcher.Prefix, watcher.After, snapshot))
            {
                if (watcher.Closed)
                {
                    return;
                }
                watcher.Deliver(e);
            }
            watcher.FinishCatchUp();
        }
        catch (Exception ex)
        {
            watcher.Fail(ex);
        }
    }

    private void CheckRevision(long revision)
    {
        if (revision == 0)
        {
            return;
        }
        if (revision < CompactRevision)
        {
            throw new CompactedException(revision, CompactRevision);
        }
        if (revision > CurrentRevision)
        {
            throw new FutureRevisionException(revision, CurrentRevision);
        }
    }

    private ValueTask<WriteResult> Enqueue(PendingOp op)
    {
        if (!_queue.Writer.TryWrite(op))
        {
            throw new ObjectDisposedException(GetType().Name);
        }
        return new ValueTask<WriteResult>(op.Completion.Task);
    }

    /// <summary>
    /// Blocks the writer thread until writes are queued (false once the queue is closed) in a kernel wait: blocking on
    /// the task itself would spin first, and the writer waits between nearly every batch, so that spinning took
    /// measurable CPU from request handling on a loaded two-core machine.
    /// </summary>
    private static bool WaitForWrites(System.Threading.Channels.ChannelReader<PendingOp> reader)
    {
        var wait = reader.WaitToReadAsync();
        if (wait.IsCompleted)
        {
            return wait.Result;
        }
        var task = wait.AsTask();
        ((IAsyncResult)task).AsyncWaitHandle.WaitOne();
        return task.GetAwaiter().GetResult();
    }

    private void WriterLoop()
    {
        var reader = _queue.Reader;
        var batch = new List<PendingOp>(MaxBatch);
        var events = new List<StoreEvent>(MaxBatch);
        var overlay = new Dictionary<string, StoreEntry?>(StringComparer.Ordinal);
        while (WaitForWrites(reader))
        {
            batch.Clear();
            events.Clear();
            overlay.Clear();
            while (batch.Count < MaxBatch && reader.TryRead(out var op))
            {
                if (op.Kind == OpKind.Compact)
                {
                    if (batch.Count > 0)
                    {
                        // Commit what is queued first; the compaction runs alone next round.
                        RunCompaction(op);
                        break;
                    }
                    RunCompaction(op);
                    continue;
                }
                batch.Add(op);
            }
            if (batch.Count == 0)
            {
                continue;
            }
            var revision = CurrentRevision;
            foreach (var op in batch)
            {
                var current = overlay.TryGetValue(op.Key, out var staged) ? staged : Latest(op.Key);
                switch (op.Kind)
                {
                    case OpKind.Create when current is not null:
                        op.Result = new WriteResult(WriteStatus.AlreadyExists, 0, current);
                        continue;
                    case OpKind.Update or OpKind.Delete when current is null:
                        op.Result = new WriteResult(WriteStatus.NotFound, 0, null);
                        continue;
                    case OpKind.Update or OpKind.Delete when op.ExpectedRevision != 0 && current!.ModRevision != op.ExpectedRevision:
                        op.Result = new WriteResult(WriteStatus.Conflict, 0, current);
                        continue;
                }
                revision++;
                StoreEvent e;
                StoreEntry? next;
                if (op.Kind == OpKind.Delete)
                {
                    e = new StoreEvent(StoreEventType.Delete, op.Key, revision, current!.CreateRevision, current.ModRevision, current.Value, current.Value);
                    next = null;
                    op.Result = new WriteResult(WriteStatus.Ok, revision, current);
                }
                else
                {
                    var createRevision = current?.CreateRevision ?? revision;
                    e = new StoreEvent(StoreEventType.Put, op.Key, revision, createRevision, current?.ModRevision ?? 0, op.Value, current?.Value);
                    next = new StoreEntry(op.Key, op.Value, createRevision, revision);
                    op.Result = new WriteResult(WriteStatus.Ok, revision, next);
                }
                overlay[op.Key] = next;
                events.Add(e);
            }
            if (events.Count > 0)
            {
                try
                {
                    Persist(events);
                }
                catch (Exception ex)
                {
                    foreach (var op in batch)
                    {
                        op.Completion.TrySetException(ex);
                    }
                    continue;
                }
                Publish(events, revision);
            }
            foreach (var op in batch)
            {
                op.Completion.TrySetResult(op.Result);
            }
        }
    }

    private void RunCompaction(PendingOp op)
    {
        try
        {
            CompactRange(op.CompactFrom, op.CompactTo, op.CompactTo);
            Index.Compact(op.CompactTo);
            Interlocked.Exchange(ref _compactRevision, op.CompactTo);
            op.Completion.TrySetResult(new WriteResult(WriteStatus.Ok, CurrentRevision, null));
        }
        catch (Exception ex)
        {
            op.Completion.TrySetException(ex);
        }
    }

    private StoreEntry? Latest(string key)
    {
        Index.TryGet(key, 0, out var entry);
        return entry;
    }

    private void Publish(List<StoreEvent> events, long revision)
    {
        lock (_publishLock)
        {
            Index.Apply(events, revision);
            Interlocked.Exchange(ref _currentRevision, revision);
            foreach (var watcher in _watchers)
            {
                foreach (var e in events)
                {
                    if (e.Revision > watcher.After && e.Key.StartsWith(watcher.Prefix, StringComparison.Ordinal))
                    {
                        watcher.DeliverLive(e);
                    }
                }
            }
        }
    }

    private void Remove(Watcher watcher)
    {
        lock (_publishLock)
        {
            _watchers.Remove(watcher);
        }
    }

    public virtual ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        _writer?.Join();
        lock (_publishLock)
        {
            foreach (var w in _watchers.ToArray())
            {
                w.Fail(new ObjectDisposedException(GetType().Name));
            }
        }
        GC.SuppressFinalize(this);
        return ValueTask.CompletedTask;
    }

    private enum OpKind
    {
        Create,
        Update,
        Delete,
        Compact,
    }

    private sealed class PendingOp(OpKind kind, string key, ReadOnlyMemory<byte> value, long expectedRevision)
    {
        public OpKind Kind { get; } = kind;
        public string Key { get; } = key;
        public ReadOnlyMemory<byte> Value { get; } = value;
        public long ExpectedRevision { get; } = expectedRevision;
        public long CompactFrom { get; init; }
        public long CompactTo { get; init; }
        public long CompactFinal { get; init; }
        public WriteResult Result { get; set; }
        public TaskCompletionSource<WriteResult> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private sealed class Watcher(StoreBase store, string prefix, long after, bool catchingUp) : IStoreWatch
    {
        private readonly Channel<StoreEvent> _channel = Channel.CreateUnbounded<StoreEvent>(new UnboundedChannelOptions { SingleWriter = false, SingleReader = true });
        private readonly object _gate = new();
        private List<StoreEvent>? _held = catchingUp ? [] : null;
        private long _lastDelivered = after;

        public string Prefix { get; } = prefix;
        public long After { get; } = after;
        public bool CatchingUp => _held is not null;
        public bool Closed { get; private set; }
        public ChannelReader<StoreEvent> Events => _channel.Reader;

        public void DeliverLive(StoreEvent e)
        {
            lock (_gate)
            {
                if (_held is not null)
                {
                    _held.Add(e);
                    return;
                }
                Write(e);
            }
        }

        public void Deliver(StoreEvent e)
        {
            lock (_gate)
            {
                Write(e);
            }
        }

        public void FinishCatchUp()
        {
            lock (_gate)
            {
                foreach (var e in _held ?? [])
                {
                    Write(e);
                }
                _held = null;
            }
        }

        private void Write(StoreEvent e)
        {
            if (Closed || e.Revision <= _lastDelivered)
            {
                return;
            }
            _lastDelivered = e.Revision;
            // Reader-side counting is approximate; it only needs to catch a reader that stopped reading.
            if (_channel.Reader.CanCount && _channel.Reader.Count > WatchBufferLimit)
            {
                Fail(new WatchOverflowException());
                return;
            }
            _channel.Writer.TryWrite(e);
        }

        public void Fail(Exception ex)
        {
            Closed = true;
            _channel.Writer.TryComplete(ex);
            store.Remove(this);
        }

        public void Dispose()
        {
            Closed = true;
            _channel.Writer.TryComplete();
            store.Remove(this);
        }
    }
}
