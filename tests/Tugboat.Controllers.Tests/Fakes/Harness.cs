using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;
using Tugboat.Client;
using Tugboat.Controllers.Runtime;

namespace Tugboat.Controllers.Tests.Fakes;

/// <summary>
/// Runs controllers as the controller manager does (shared informers, a work queue, two workers per loop) against a
/// <see cref="FakeApi"/>; tests seed objects, play the other actors through the fake, and wait for the outcome.
/// </summary>
public sealed class Harness : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _loops = [];
    private readonly List<IDisposable> _owned = [];

    public Harness()
    {
        Client = new ApiClient(Api, new Uri("http://fake.invalid"));
        Informers = new InformerFactory(Client);
    }

    public FakeApi Api { get; } = new();

    public ApiClient Client { get; }

    public InformerFactory Informers { get; }

    /// <summary>A work queue that the harness disposes.</summary>
    public WorkQueue<string> Queue()
    {
        var queue = new WorkQueue<string>();
        _owned.Add(queue);
        return queue;
    }

    /// <summary>Creates a controller on a queue of its own, starts its loop and waits until its caches are filled.</summary>
    public async Task<T> StartAsync<T>(Func<WorkQueue<string>, T> create, Func<T, IReadOnlyList<Informer>> informers)
        where T : IReconciler
    {
        var queue = Queue();
        var controller = create(queue);
        await RunAsync(controller, informers(controller), queue);
        return controller;
    }

    private async Task RunAsync(IReconciler reconciler, IReadOnlyList<Informer> informers, WorkQueue<string> queue)
    {
        _loops.Add(new ControllerLoop(reconciler.GetType().Name, reconciler, informers, queue, NullLogger.Instance).RunAsync(_stop.Token));
        await Task.WhenAll(informers.Select(i => i.Synced)).WaitAsync(TimeSpan.FromSeconds(10));
    }

    /// <summary>The first non-null answer of <paramref name="probe"/>, polled every 20 ms, or a failure naming what was waited for.</summary>
    public async Task<T> EventuallyAsync<T>(string what, Func<T?> probe, TimeSpan? timeout = null)
        where T : class
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(20));
        while (DateTime.UtcNow < deadline)
        {
            if (probe() is { } found)
            {
                return found;
            }
            await Task.Delay(20);
        }
        throw new TimeoutException($"not reached: {what}\nactions:\n{string.Join("\n", Api.Actions)}\nobjects:\n{Api.Dump()}");
    }

    /// <summary>Waits until no write has happened for <paramref name="quiet"/> (default 300 ms), so counts are final.</summary>
    public async Task SettleAsync(TimeSpan? quiet = null)
    {
        var period = quiet ?? TimeSpan.FromMilliseconds(300);
        var seen = -1;
        while (Api.Actions.Count != seen)
        {
            seen = Api.Actions.Count;
            await Task.Delay(period);
        }
    }

    public List<JsonObject> Pods(string ns) => Api.List($"/api/v1/namespaces/{ns}/pods");

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await Task.WhenAll(_loops).WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (OperationCanceledException)
        {
        }
        foreach (var o in _owned)
        {
            o.Dispose();
        }
        _stop.Dispose();
        Client.Dispose();
        Api.Dispose();
    }
}
