namespace Tugboat.Client.Tests;

public sealed class WorkQueueTests
{
    private static readonly CancellationToken Timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token;

    [Fact]
    public async Task AKeyQueuedTwiceIsHandedOutOnce()
    {
        using var queue = new WorkQueue<string>();
        queue.Add("a");
        queue.Add("a");
        queue.Add("b");
        Assert.Equal(2, queue.Length);
        Assert.Equal("a", await queue.GetAsync(Timeout));
        Assert.Equal("b", await queue.GetAsync(Timeout));
        Assert.Equal(0, queue.Length);
    }

    [Fact]
    public async Task AKeyBeingProcessedIsNotHandedOutAgainUntilDone()
    {
        using var queue = new WorkQueue<string>();
        queue.Add("a");
        var first = await queue.GetAsync(Timeout);
        queue.Add("a");
        var second = queue.GetAsync(Timeout).AsTask();
        await Task.Delay(100);
        Assert.False(second.IsCompleted);
        queue.Done(first);
        Assert.Equal("a", await second.WaitAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task FailuresBackOffExponentiallyUntilForgotten()
    {
        using var queue = new WorkQueue<string>();
        Assert.Equal(TimeSpan.FromMilliseconds(5), queue.AddRateLimited("a"));
        Assert.Equal(TimeSpan.FromMilliseconds(10), queue.AddRateLimited("a"));
        Assert.Equal(TimeSpan.FromMilliseconds(20), queue.AddRateLimited("a"));
        queue.Forget("a");
        Assert.Equal(TimeSpan.FromMilliseconds(5), queue.AddRateLimited("a"));
        Assert.Equal("a", await queue.GetAsync(Timeout));
    }

    [Fact]
    public async Task DelayedItemsArriveAfterTheirDelay()
    {
        using var queue = new WorkQueue<string>();
        var sw = System.Diagnostics.Stopwatch.StartNew();
        queue.AddAfter("later", TimeSpan.FromMilliseconds(200));
        Assert.Equal("later", await queue.GetAsync(Timeout));
        Assert.True(sw.ElapsedMilliseconds >= 150, $"arrived after {sw.ElapsedMilliseconds} ms");
    }
}
