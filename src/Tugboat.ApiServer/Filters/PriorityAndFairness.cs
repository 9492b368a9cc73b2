using Microsoft.AspNetCore.Http;
using Tugboat.ApiServer.Security;

namespace Tugboat.ApiServer.Filters;

/// <summary>
/// The core of upstream's API Priority and Fairness: each authenticated request is classified by the built-in flow
/// schemas into a priority level, and each level has its share of the server's seats (upstream's
/// <c>--max-requests-inflight</c> plus <c>--max-mutating-requests-inflight</c>, 400 + 200) and a bounded queue. A
/// request that finds its level's seats taken waits in the queue; one that finds the queue full, or waits too long, is
/// refused with 429 and <c>Retry-After</c>, as upstream answers. Levels do not lend seats to each other, so a user
/// flooding the server with LISTs fills only their own level: node heartbeats, controllers and health checks keep theirs.
/// </summary>
/// <remarks>
/// What upstream also does and this does not (yet): honouring custom FlowSchema and PriorityLevelConfiguration objects,
/// fair queuing between flows inside a level (shuffle sharding), borrowing between levels, and charging a LIST by its
/// estimated width. Long-running requests (watches, exec, attach, port-forward, followed logs) take no seat, as under
/// upstream's max-in-flight filter.
/// </remarks>
internal sealed class PriorityAndFairness
{
    /// <summary>How long a request may wait for a seat before it is refused (upstream's default request wait limit is 15 s).</summary>
    public static readonly TimeSpan WaitLimit = TimeSpan.FromSeconds(15);

    private readonly Dictionary<string, PriorityLevel> _levels;

    /// <param name="maxReadOnly">Upstream's <c>--max-requests-inflight</c> (400); 0 with <paramref name="maxMutating"/> 0 turns limiting off.</param>
    /// <param name="maxMutating">Upstream's <c>--max-mutating-requests-inflight</c> (200).</param>
    public PriorityAndFairness(int maxReadOnly, int maxMutating)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxReadOnly);
        ArgumentOutOfRangeException.ThrowIfNegative(maxMutating);
        var seats = maxReadOnly + maxMutating;
        Enabled = seats > 0;
        // Upstream's built-in priority levels: nominal concurrency shares and queue lengths (queues × queueLengthLimit
        // upstream; one queue per level here).
        (string Name, int Shares, int Queue)[] builtIn =
        [
            ("system", 30, 64 * 50),
            ("node-high", 40, 64 * 50),
            ("leader-election", 10, 16 * 50),
            ("workload-high", 40, 128 * 50),
            ("workload-low", 100, 128 * 50),
            ("global-default", 20, 128 * 50),
            ("catch-all", 5, 0),
        ];
        var totalShares = builtIn.Sum(l => l.Shares);
        _levels = builtIn.ToDictionary(
            l => l.Name,
            l => new PriorityLevel(l.Name, Math.Max(1, (int)Math.Ceiling((double)seats * l.Shares / totalShares)), QueueFor(l.Queue, seats)),
            StringComparer.Ordinal);
    }

    // A queue never holds more than the level could clear in the wait limit at a few milliseconds a request; on a small
    // server that is far below upstream's thousands.
    private static int QueueFor(int upstream, int seats) => Math.Min(upstream, Math.Max(0, seats / 2));

    public bool Enabled { get; }

    /// <summary>The level a request belongs to (null: exempt), by upstream's built-in flow schemas in order of precedence.</summary>
    public static string? Classify(UserInfo user, HttpRequest request)
    {
        var groups = user.Groups;
        if (groups.Contains("system:masters"))
        {
            return null;
        }
        var path = request.Path.Value ?? "/";
        if (path is "/healthz" or "/readyz" or "/livez" || path.StartsWith("/healthz/", StringComparison.Ordinal)
            || path.StartsWith("/readyz/", StringComparison.Ordinal) || path.StartsWith("/livez/", StringComparison.Ordinal))
        {
            return null;
        }
        if (groups.Contains("system:nodes"))
        {
            var (ns, resource, subresource) = Resource(path);
            var nodeHigh = (resource == "nodes" && subresource is "" or "status") || (resource == "leases" && ns == "kube-node-lease");
            return nodeHigh ? "node-high" : "system";
        }
        if (user.Name is "system:kube-controller-manager" or "system:kube-scheduler")
        {
            return Resource(path) is ("kube-system", "leases", "") ? "leader-election" : "workload-high";
        }
        if (user.Name.StartsWith("system:serviceaccount:kube-system:", StringComparison.Ordinal))
        {
            return "workload-high";
        }
        if (groups.Contains("system:serviceaccounts"))
        {
            return "workload-low";
        }
        return groups.Contains("system:authenticated") ? "global-default" : "catch-all";
    }

    /// <summary>
    /// Long-running requests take no seat: watches, and streams that live as long as the client wants (exec, attach,
    /// port-forward, proxy, followed logs).
    /// </summary>
    public static bool IsLongRunning(HttpRequest request)
    {
        var query = request.Query;
        if (query.TryGetValue("watch", out var watch) && watch.ToString() is "1" or "true" or "True")
        {
            return true;
        }
        var (_, _, subresource) = Resource(request.Path.Value ?? "/");
        return subresource is "exec" or "attach" or "portforward" or "proxy"
            || (subresource == "log" && query.TryGetValue("follow", out var follow) && follow.ToString() is "1" or "true" or "True")
            || (request.Path.Value ?? string.Empty).Contains("/watch/", StringComparison.Ordinal);
    }

    /// <summary>
    /// Takes a seat for the request, waiting in its level's queue if need be; null when the request needs none.
    /// Throws <see cref="TooManyRequestsException"/> when the queue is full or the wait too long.
    /// </summary>
    public async ValueTask<Seat?> AdmitAsync(UserInfo user, HttpContext http)
    {
        if (!Enabled || Classify(user, http.Request) is not { } name || IsLongRunning(http.Request))
        {
            return null;
        }
        var level = _levels[name];
        return await level.EnterAsync(http.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>The seats and queue of one level, for tests and metrics.</summary>
    public (int Seats, int Queue) Limits(string level) => (_levels[level].Seats, _levels[level].QueueLimit);

    /// <summary>(namespace, resource, subresource) of a resource path; empty strings where the path has none.</summary>
    private static (string Namespace, string Resource, string Subresource) Resource(string path)
    {
        var segs = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var rest = segs switch
        {
            ["api", _, .. var r] => r,
            ["apis", _, _, .. var r] => r,
            _ => [],
        };
        if (rest is ["watch", .. var watched])
        {
            rest = watched;
        }
        var ns = string.Empty;
        if (rest is ["namespaces", var n, _, ..])
        {
            ns = n;
            rest = rest[2..];
        }
        return rest switch
        {
            [var r] => (ns, r, string.Empty),
            [var r, _] => (ns, r, string.Empty),
            [var r, _, var sub, ..] => (ns, r, sub),
            _ => (ns, string.Empty, string.Empty),
        };
    }

    /// <summary>One priority level: a number of seats and a bounded queue of requests waiting for one.</summary>
    private sealed class PriorityLevel(string name, int seats, int queueLimit)
    {
        private readonly SemaphoreSlim _seats = new(seats, seats);
        private int _waiting;

        public string Name { get; } = name;
        public int Seats { get; } = seats;
        public int QueueLimit { get; } = queueLimit;

        public async ValueTask<Seat> EnterAsync(CancellationToken ct)
        {
            if (_seats.Wait(0, CancellationToken.None))
            {
                return new Seat(_seats);
            }
            if (Interlocked.Increment(ref _waiting) > QueueLimit)
            {
                Interlocked.Decrement(ref _waiting);
                throw new TooManyRequestsException(Name);
            }
            try
            {
                if (!await _seats.WaitAsync(WaitLimit, ct).ConfigureAwait(false))
                {
                    throw new TooManyRequestsException(Name);
                }
            }
            finally
            {
                Interlocked.Decrement(ref _waiting);
            }
            return new Seat(_seats);
        }
    }

    /// <summary>A taken seat; disposing it gives the seat back.</summary>
    internal sealed class Seat(SemaphoreSlim seats) : IDisposable
    {
        private SemaphoreSlim? _seats = seats;

        public void Dispose() => Interlocked.Exchange(ref _seats, null)?.Release();
    }
}

/// <summary>A request refused for lack of a seat in its priority level.</summary>
internal sealed class TooManyRequestsException(string level) : Exception($"priority level {level} is saturated")
{
    public string Level { get; } = level;
}
