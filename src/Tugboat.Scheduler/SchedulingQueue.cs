using Tugboat.Scheduler.Framework;

namespace Tugboat.Scheduler;

/// <summary>
/// Pods waiting to be scheduled, as upstream's queue: active (highest priority first, then oldest), backing off after a
/// failed attempt (1 s doubling to 10 s), and unschedulable ones parked until a cluster event (a node appears or
/// changes, a pod leaves) might let them fit, or a periodic flush. A pod is handed out once at a time.
/// </summary>
internal sealed class SchedulingQueue
{
    private readonly object _lock = new();
    private readonly PriorityQueue<string, (int, long)> _active = new();
    private readonly HashSet<string> _inActive = new(StringComparer.Ordinal);
    private readonly Dictionary<string, PodInfo> _pods = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _attempts = new(StringComparer.Ordinal);
    private readonly HashSet<string> _unschedulable = new(StringComparer.Ordinal);
    private readonly HashSet<string> _inFlight = new(StringComparer.Ordinal);
    private readonly HashSet<string> _backingOff = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _signal = new(0);
    private long _sequence;

    public static readonly TimeSpan InitialBackoff = TimeSpan.FromSeconds(1);
    public static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(10);

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _pods.Count;
            }
        }
    }

    /// <summary>Adds or refreshes a pending pod; a changed pod that was parked is tried again.</summary>
    public void Add(PodInfo pod, bool changed = true)
    {
        lock (_lock)
        {
            var known = _pods.ContainsKey(pod.Key);
            _pods[pod.Key] = pod;
            if (!known || (changed && _unschedulable.Remove(pod.Key)))
            {
                PushLocked(pod.Key);
            }
        }
    }

    public void Delete(string key)
    {
        lock (_lock)
        {
            _pods.Remove(key);
            _attempts.Remove(key);
            _unschedulable.Remove(key);
            _backingOff.Remove(key);
        }
    }

    /// <summary>Waits for the next pod to schedule.</summary>
    public async Task<PodInfo> PopAsync(CancellationToken ct)
    {
        while (true)
        {
            await _signal.WaitAsync(ct).ConfigureAwait(false);
            lock (_lock)
            {
                while (_active.TryDequeue(out var key, out _))
                {
                    _inActive.Remove(key);
                    if (_pods.TryGetValue(key, out var pod) && _inFlight.Add(key))
                    {
                        return pod;
                    }
                }
            }
        }
    }

    /// <summary>The pod was bound (or went away): forget it.</summary>
    public void Done(string key)
    {
        lock (_lock)
        {
            _inFlight.Remove(key);
            _pods.Remove(key);
            _attempts.Remove(key);
        }
    }

    /// <summary>The attempt failed: park the pod until a cluster event, or (for errors) retry after its backoff.</summary>
    public void Failed(string key, bool park)
    {
        TimeSpan delay;
        lock (_lock)
        {
            _inFlight.Remove(key);
            if (!_pods.ContainsKey(key))
            {
                return;
            }
            var attempts = _attempts[key] = _attempts.GetValueOrDefault(key) + 1;
            if (park)
            {
                _unschedulable.Add(key);
                return;
            }
            delay = Backoff(attempts);
            _backingOff.Add(key);
        }
        _ = RequeueAfterAsync(key, delay);
    }

    /// <summary>Something changed that may let parked pods fit: each goes back after its backoff.</summary>
    public void MoveAllToActive()
    {
        List<(string, TimeSpan)> moved;
        lock (_lock)
        {
            moved = _unschedulable.Select(k => (k, Backoff(_attempts.GetValueOrDefault(k)))).ToList();
            foreach (var (key, _) in moved)
            {
                _backingOff.Add(key);
            }
            _unschedulable.Clear();
        }
        foreach (var (key, delay) in moved)
        {
            _ = RequeueAfterAsync(key, delay);
        }
    }

    private static TimeSpan Backoff(int attempts) =>
        attempts <= 1 ? InitialBackoff : TimeSpan.FromTicks(Math.Min(MaxBackoff.Ticks, InitialBackoff.Ticks << Math.Min(attempts - 1, 10)));

    private async Task RequeueAfterAsync(string key, TimeSpan delay)
    {
        await Task.Delay(delay).ConfigureAwait(false);
        lock (_lock)
        {
            if (_backingOff.Remove(key) && _pods.ContainsKey(key) && !_inFlight.Contains(key))
            {
                PushLocked(key);
            }
        }
    }

    private void PushLocked(string key)
    {
        if (_inActive.Add(key))
        {
            _active.Enqueue(key, (-_pods[key].Priority, _sequence++));
            _signal.Release();
        }
    }
}
