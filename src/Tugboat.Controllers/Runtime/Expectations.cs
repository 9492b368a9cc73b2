using System.Text.Json.Nodes;
using Tugboat.Client;

namespace Tugboat.Controllers.Runtime;

/// <summary>
/// What a controller has asked for but not yet seen in its caches (client-go's ControllerExpectations): while creations
/// or deletions are outstanding for a key, the controller does not act on the key again, so it never over-creates.
/// Expectations lapse after five minutes in case an event was missed.
/// </summary>
public sealed class Expectations
{
    private static readonly TimeSpan Ttl = TimeSpan.FromMinutes(5);
    private readonly object _gate = new();
    private readonly Dictionary<string, (int Adds, int Deletes, DateTime Since)> _pending = new(StringComparer.Ordinal);

    public void Expect(string key, int adds, int deletes)
    {
        lock (_gate)
        {
            _pending[key] = (adds, deletes, DateTime.UtcNow);
        }
    }

    /// <summary>
    /// Routes a pod event to the object of <paramref name="ownerKind"/> that controls the pod: records a creation
    /// (<paramref name="added"/> true) or deletion (false) as observed and queues the owner's key. Pods without such
    /// an owner are ignored.
    /// </summary>
    public void PodChanged(JsonObject pod, bool? added, string ownerKind, WorkQueue<string> queue)
    {
        if (Owners.ControllerOf(pod) is not { } owner || owner["kind"]?.GetValue<string>() != ownerKind)
        {
            return;
        }
        var key = Owners.Namespace(pod) + "/" + owner["name"]?.GetValue<string>();
        if (added is { } a)
        {
            Observed(key, a);
        }
        queue.Add(key);
    }

    public void Observed(string key, bool added)
    {
        lock (_gate)
        {
            if (_pending.TryGetValue(key, out var p))
            {
                _pending[key] = added ? p with { Adds = p.Adds - 1 } : p with { Deletes = p.Deletes - 1 };
            }
        }
    }

    /// <summary>Lowers the expectation when a requested change failed, so the controller is not blocked waiting for it.</summary>
    public void Failed(string key, bool add) => Observed(key, add);

    /// <summary>
    /// Whether the changes last asked for under <paramref name="key"/> have all been seen (or expired). Ask before
    /// listing pods from the cache, as upstream's controllers do: a pod the cache gains after the list was read would
    /// otherwise satisfy the expectations of a pass that did not count it, and the pass would create it again.
    /// </summary>
    public bool Satisfied(string key)
    {
        lock (_gate)
        {
            if (!_pending.TryGetValue(key, out var p))
            {
                return true;
            }
            if ((p.Adds <= 0 && p.Deletes <= 0) || DateTime.UtcNow - p.Since > Ttl)
            {
                _pending.Remove(key);
                return true;
            }
            return false;
        }
    }

    public void Forget(string key)
    {
        lock (_gate)
        {
            _pending.Remove(key);
        }
    }
}
