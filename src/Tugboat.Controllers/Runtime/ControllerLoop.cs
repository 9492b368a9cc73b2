using Microsoft.Extensions.Logging;
using Tugboat.Client;

namespace Tugboat.Controllers.Runtime;

/// <summary>
/// Runs one controller: its informers feed keys into a work queue (handlers only enqueue), and workers take keys and
/// reconcile them; a key is never reconciled twice at once, and failures requeue with backoff.
/// </summary>
public sealed partial class ControllerLoop(string name, IReconciler reconciler, IReadOnlyList<Informer> informers, WorkQueue<string> queue, ILogger logger, int workers = 2)
{
    public string Name { get; } = name;

    public async Task RunAsync(CancellationToken ct)
    {
        var running = informers.Select(i => i.RunAsync(ct)).ToList();
        await Task.WhenAll(informers.Select(i => i.Synced)).WaitAsync(ct).ConfigureAwait(false);
        LogStarted(Name);
        var workerTasks = Enumerable.Range(0, workers).Select(_ => WorkAsync(ct)).ToList();
        try
        {
            await Task.WhenAll(running.Concat(workerTasks)).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    private async Task WorkAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            string key;
            try
            {
                key = await queue.GetAsync(ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            try
            {
                await reconciler.ReconcileAsync(key, ct).ConfigureAwait(false);
                queue.Forget(key);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (ApiError e) when (e.IsConflict)
            {
                // Acting on a cached copy that changed meanwhile: routine, the retry sees the new one.
                var delay = queue.AddRateLimited(key);
                LogConflict(Name, key, delay.TotalMilliseconds);
            }
            catch (Exception e)
            {
                var delay = queue.AddRateLimited(key);
                LogFailed(Name, key, delay.TotalMilliseconds, e);
            }
            finally
            {
                queue.Done(key);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "controller {Controller} started")]
    private partial void LogStarted(string controller);

    [LoggerMessage(Level = LogLevel.Debug, Message = "controller {Controller} met a conflict on {Key}; retrying in {DelayMs} ms")]
    private partial void LogConflict(string controller, string key, double delayMs);

    [LoggerMessage(Level = LogLevel.Warning, Message = "controller {Controller} failed to reconcile {Key}; retrying in {DelayMs} ms")]
    private partial void LogFailed(string controller, string key, double delayMs, Exception e);
}
