namespace Tugboat.E2E.Tests;

/// <summary>Waiting for a cluster to reach a state, polling instead of sleeping a fixed time.</summary>
public static class Eventually
{
    /// <summary>The first non-null answer of <paramref name="probe"/> (polled every 200 ms), or a timeout failure.</summary>
    public static async Task<T> ForAsync<T>(Func<Task<T?>> probe, TimeSpan? timeout = null)
        where T : class
    {
        var limit = timeout ?? TimeSpan.FromSeconds(60);
        var deadline = DateTime.UtcNow + limit;
        while (DateTime.UtcNow < deadline)
        {
            if (await probe() is { } found)
            {
                return found;
            }
            await Task.Delay(200);
        }
        throw new TimeoutException($"condition not reached in {limit.TotalSeconds} s");
    }
}
