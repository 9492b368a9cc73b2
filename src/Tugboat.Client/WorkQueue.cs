using System.Threading.Channels;

namespace Tugboat.Client;

/// <summary>
/// A work queue of keys, as client-go's: a key queued while waiting is queued once; a key being processed is not handed
/// out again until <see cref="Done"/>, and is handed out once more if it was added meanwhile; failures requeue with
/// exponential backoff (5 ms doubling to 1,000 s) until <see cref="Forget"/>.
/// </summary>
public sealed class WorkQueue<T> : IDisposable
    where T : notnull
{
    private static readonly TimeSpan BaseDelay = TimeSpan.FromMilliseconds(5);
    private static readonly TimeSpan MaxDelay = TimeSpan.FromSeconds(1000);

    private readonly object _gate = new();
    private readonly HashSet<T> _dirty = [];
    private readonly HashSet<T> _processing = [];
    private readonly Dictionary<T, int> _failures = [];
    private readonly Channel<T> _ready = Channel.CreateUnbounded<T>();
    private readonly CancellationTokenSource _shutdown = new();

    public int Length
    {
        get
        {
            lock (_gate)
            {
                return _dirty.Count;
            }
        }
    }

    public void Add(T item)
    {
        lock (_gate)
        {
            if (_shutdown.IsCancellationRequested || !_dirty.Add(item))
            {
                return;
            }
            if (!_processing.Contains(item))
            {
                _ready.Writer.TryWrite(item);
            }
        }
    }

    /// <summary>Adds <paramref name="item"/> after <paramref name="delay"/>.</summary>
    public void AddAfter(T item, TimeSpan delay)
    {
        if (delay <= TimeSpan.Zero)
        {
            Add(item);
            return;
        }
        _ = Task.Delay(delay, _shutdown.Token).ContinueWith(t =>
        {
            if (!t.IsCanceled)
            {
                Add(item);
            }
        }, TaskScheduler.Default);
    }

    /// <summary>Requeues a failed item after its backoff; the delay doubles with each consecutive failure.</summary>
    public TimeSpan AddRateLimited(T item)
    {
        int failures;
        lock (_gate)
        {
            failures = _failures.GetValueOrDefault(item);
            _failures[item] = failures + 1;
        }
        var delay = TimeSpan.FromTicks((long)Math.Min(MaxDelay.Ticks, BaseDelay.Ticks * Math.Pow(2, Math.Min(failures, 40))));
        AddAfter(item, delay);
        return delay;
    }

    /// <summary>Clears an item's failure count (after it was processed successfully).</summary>
    public void Forget(T item)
    {
        lock (_gate)
        {
            _failures.Remove(item);
        }
    }

    /// <summary>Waits for the next item; the caller must call <see cref="Done"/> with it.</summary>
    public async ValueTask<T> GetAsync(CancellationToken ct)
    {
        while (true)
        {
            var item = await _ready.Reader.ReadAsync(ct).ConfigureAwait(false);
            lock (_gate)
            {
                if (_dirty.Remove(item))
                {
                    _processing.Add(item);
                    return item;
                }
            }
        }
    }

    public void Done(T item)
    {
        lock (_gate)
        {
            _processing.Remove(item);
            if (_dirty.Contains(item))
            {
                _ready.Writer.TryWrite(item);
            }
        }
    }

    public void Dispose()
    {
        _shutdown.Cancel();
        _ready.Writer.TryComplete();
        _shutdown.Dispose();
    }
}
