using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Tugboat.Storage;

namespace Tugboat.ApiServer.Hosting;

/// <summary>
/// Compacts the store periodically, as the upstream API server does: each round compacts up to the revision that was
/// current one round earlier, so watchers always have at least one interval of history to resume from.
/// </summary>
internal sealed partial class Compactor(IStore store, TimeSpan interval, ILogger<Compactor> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var previous = store.CurrentRevision;
        using var timer = new PeriodicTimer(interval);
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            try
            {
                if (previous > store.CompactRevision)
                {
                    await store.CompactAsync(previous, stoppingToken).ConfigureAwait(false);
                    LogCompacted(previous);
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogFailed(e);
            }
            previous = store.CurrentRevision;
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "compacted store history up to revision {Revision}")]
    private partial void LogCompacted(long revision);

    [LoggerMessage(Level = LogLevel.Warning, Message = "store compaction failed")]
    private partial void LogFailed(Exception e);
}
