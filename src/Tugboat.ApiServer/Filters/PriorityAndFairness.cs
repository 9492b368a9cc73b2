using Microsoft.AspNetCore.Http;
using Tugboat.ApiServer.Http;
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

    /// <summary>Upstream's LIST work estimator: a seat for every 100 objects a LIST may go through, at most 10.</summary>
    public const int ObjectsPerSeat = 100;

    public const int MaxSeatsPerRequest = 10;

    private readonly Dictionary<string, PriorityLevel> _levels;
    private readonly Func<string, CancellationToken, ValueTask<long>>? _countObjects;

    /// <param name="maxReadOnly">Upstream's <c>--max-requests-inflight</c> (400); 0 with <paramref name="maxMutating"/> 0 turns limiting off.</param>
    /// <param name="maxMutating">Upstream's <c>--max-mutating-requests-inflight</c> (200).</param>
    /// <param name="countObjects">
    /// How many objects a LIST path may go through (null: every request is one seat); called at most once every few
    /// seconds per path.
    /// </param>
    public PriorityAndFairness(int maxReadOnly, int maxMutating, Func<string, CancellationToken, ValueTask<long>>? countObjects = null)
    {
        _countObjects = countObjects;
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
    public static string? Classify(UserInfo user, RequestAttributes request)
    {
        var groups = user.Groups;
        if (groups.Contains("system:masters"))
        {
            return null;
        }
        if (!request.IsResourceRequest && request.Path is var path
            && (path is "/healthz" or "/readyz" or "/livez" || path.StartsWith("/healthz/", StringComparison.Ordinal)
                || path.StartsWith("/readyz/", StringComparison.Ordinal) || path.StartsWith("/livez/", StringComparison.Ordinal)))
        {
            return null;
        }
        if (groups.Contains("system:nodes"))
        {
            var nodeHigh = (request.Resource == "nodes" && request.Subresource is "" or "status") || (request.Resource == "leases" && request.Namespace == "kube-node-lease");
            return nodeHigh ? "node-high" : "system";
        }
        if (user.Name is "system:kube-controller-manager" or "system:kube-scheduler")
        {
            return request is { Namespace: "kube-system", Resource: "leases", Subresource: "" } ? "leader-election" : "workload-high";
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
    public static bool IsLongRunning(RequestAttributes request, IQueryCollection query) =>
        request.Verb is "watch" or "proxy"
        || request.Subresource is "exec" or "attach" or "portforward" or "proxy"
        || (request.Subresource == "log" && query.TryGetValue("follow", out var follow) && follow.ToString() is "1" or "true" or "True");

    /// <summary>
    /// Takes a seat for the request, waiting in its level's queue if need be; null when the request needs none.
    /// Throws <see cref="TooManyRequestsException"/> when the queue is full or the wait too long.
    /// </summary>
    public async ValueTask<Seat?> AdmitAsync(UserInfo user, RequestAttributes request, HttpContext http)
    {
        if (!Enabled || Classify(user, request) is not { } name || IsLongRunning(request, http.Request.Query))
        {
            return null;
        }
        var level = _levels[name];
        var seats = await SeatsAsync(request, http.Request, level.Seats).ConfigureAwait(false);
        return await level.EnterAsync(seats, http.RequestAborted).ConfigureAwait(false);
    }

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, (long Count, long At)> _counts = new(StringComparer.Ordinal);

    /// <summary>
    /// The seats a request takes: one, or for a LIST one per 100 objects it may go through (its limit, else how many
    /// the collection holds), at most 10 and never more than the level has — as upstream's work estimator charges.
    /// </summary>
    private async ValueTask<int> SeatsAsync(RequestAttributes attributes, HttpRequest request, int levelSeats)
    {
        if (_countObjects is null || attributes.Verb != "list" || attributes.NamedInPath)
        {
            return 1;
        }
        var path = attributes.Path;
        var now = Environment.TickCount64;
        if (!_counts.TryGetValue(path, out var known) || now - known.At > 5_000)
        {
            known = (await _countObjects(path, CancellationToken.None).ConfigureAwait(false), now);
            _counts[path] = known;
        }
        var objects = known.Count;
        if (request.Query.TryGetValue("limit", out var limit) && long.TryParse(limit, out var l) && l > 0)
        {
            objects = Math.Min(objects, l);
        }
        var seats = (int)Math.Clamp((objects + ObjectsPerSeat - 1) / ObjectsPerSeat, 1, MaxSeatsPerRequest);
        return Math.Min(seats, levelSeats);
    }

    /// <summary>The seats and queue of one level, for tests and metrics.</summary>
    public (int Seats, int Queue) Limits(string level) => (_levels[level].Seats, _levels[level].QueueLimit);

    /// <summary>
    /// One priority level: a number of seats and a bounded queue, first come first served, of requests waiting for
    /// theirs (a request may need several).
    /// </summary>
    private sealed class PriorityLevel(string name, int seats, int queueLimit)
    {
        private readonly object _gate = new();
        private readonly LinkedList<(int Seats, TaskCompletionSource<bool> Granted)> _queue = new();
        private int _free = seats;

        public string Name { get; } = name;
        public int Seats { get; } = seats;
        public int QueueLimit { get; } = queueLimit;

        public async ValueTask<Seat> EnterAsync(int wanted, CancellationToken ct)
        {
            LinkedListNode<(int Seats, TaskCompletionSource<bool> Granted)> waiting;
            lock (_gate)
            {
                if (_queue.Count == 0 && _free >= wanted)
                {
                    _free -= wanted;
                    return new Seat(Release, wanted);
                }
                if (_queue.Count >= QueueLimit)
                {
                    throw new TooManyRequestsException(Name);
                }
                waiting = _queue.AddLast((wanted, new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously)));
            }
            try
            {
                await waiting.Value.Granted.Task.WaitAsync(WaitLimit, ct).ConfigureAwait(false);
                return new Seat(Release, wanted);
            }
            catch (Exception e) when (e is TimeoutException or OperationCanceledException)
            {
                lock (_gate)
                {
                    if (waiting.List is not null)
                    {
                        _queue.Remove(waiting);
                        Grant();
                        if (e is TimeoutException)
                        {
                            throw new TooManyRequestsException(Name);
                        }
                        throw;
                    }
                }
                // Granted in the same moment: give the seats back.
                Release(wanted);
                throw e is TimeoutException ? new TooManyRequestsException(Name) : e;
            }
        }

        public void Release(int count)
        {
            lock (_gate)
            {
                _free += count;
                Grant();
            }
        }

        // Under the gate: hands free seats to the head of the queue while it fits.
        private void Grant()
        {
            while (_queue.First is { } head && head.Value.Seats <= _free)
            {
                _free -= head.Value.Seats;
                _queue.RemoveFirst();
                head.Value.Granted.TrySetResult(true);
            }
        }
    }

    /// <summary>Taken seats; disposing them gives them back (once).</summary>
    internal sealed class Seat(Action<int> release, int count) : IDisposable
    {
        private Action<int>? _release = release;

        public int Count { get; } = count;

        public void Dispose() => Interlocked.Exchange(ref _release, null)?.Invoke(Count);
    }
}

/// <summary>A request refused for lack of a seat in its priority level.</summary>
internal sealed class TooManyRequestsException(string level) : Exception($"priority level {level} is saturated")
{
    public string Level { get; } = level;
}
