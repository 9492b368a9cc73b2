using System.Text.Json.Nodes;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Tugboat.ApiServer.Registry;

namespace Tugboat.ApiServer.Hosting;

/// <summary>
/// The namespace lifecycle loop (upstream's namespace controller): when a namespace is being deleted, delete every
/// namespaced object in it, and once none is left remove the <c>kubernetes</c> finalizer so the namespace goes.
/// It works through the registry, with the same semantics as REST clients; it is still to move into the controller
/// manager with the other control loops.
/// </summary>
internal sealed partial class NamespaceFinalizer(Registry.Registry registry, ILogger<NamespaceFinalizer> logger) : BackgroundService
{
    private static readonly TimeSpan Retry = TimeSpan.FromSeconds(2);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var nsType = registry.Catalog.Get(string.Empty, "Namespace");
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                // Level-based: every round looks at all terminating namespaces; a watch wakes it early.
                var pending = await SweepAsync(nsType, stoppingToken).ConfigureAwait(false);
                using var wake = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                wake.CancelAfter(pending ? Retry : TimeSpan.FromMinutes(5));
                try
                {
                    await foreach (var e in registry.WatchAsync(nsType, null, new ListOptions { ResourceVersion = registry.Store.CurrentRevision.ToString(System.Globalization.CultureInfo.InvariantCulture) }, wake.Token).ConfigureAwait(false))
                    {
                        if (e.Type == "MODIFIED" && JsonNode.Parse(e.Value.Span).Str("metadata", "deletionTimestamp") is not null)
                        {
                            break;
                        }
                    }
                }
                catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
                {
                }
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (Exception e)
            {
                LogFailed(e);
                await Task.Delay(Retry, stoppingToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Returns true when some namespace is still waiting for its content to go.</summary>
    private async Task<bool> SweepAsync(ResourceType nsType, CancellationToken ct)
    {
        var pending = false;
        var list = await registry.ListAsync(nsType, null, new ListOptions(), ct).ConfigureAwait(false);
        foreach (var entry in list.Items)
        {
            var ns = ObjectCodec.Decode(entry);
            var name = ns.Str("metadata", "name")!;
            if (ns.Str("metadata", "deletionTimestamp") is null || ns.Arr("spec", "finalizers")?.Any(f => f?.GetValue<string>() == "kubernetes") != true)
            {
                continue;
            }
            var remaining = 0;
            foreach (var rt in registry.Catalog.All.Where(t => t.Namespaced && t.StoredAs is null && !t.IsVirtual))
            {
                var items = await registry.ListAsync(rt, name, new ListOptions(), ct).ConfigureAwait(false);
                foreach (var item in items.Items)
                {
                    remaining++;
                    var obj = ObjectCodec.Decode(item);
                    if (obj.Str("metadata", "deletionTimestamp") is not null)
                    {
                        continue;
                    }
                    try
                    {
                        await registry.DeleteAsync(rt, name, obj.Str("metadata", "name")!, new Registry.DeleteOptions { PropagationPolicy = "Background" }, ct).ConfigureAwait(false);
                    }
                    catch (ApiException e) when (e.Code == 404)
                    {
                    }
                }
            }
            if (remaining > 0)
            {
                pending = true;
                continue;
            }
            var finalizers = new JsonArray(ns.Arr("spec", "finalizers")!.Where(f => f?.GetValue<string>() != "kubernetes").Select(f => f!.DeepClone()).ToArray());
            await registry.PatchAsync(nsType, null, name, current =>
            {
                current.Ensure("spec")["finalizers"] = finalizers.DeepClone();
                return current;
            }, "finalize", dryRun: false, ct).ConfigureAwait(false);
            LogFinalized(name);
        }
        return pending;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "namespace {Name} is empty and has been finalized")]
    private partial void LogFinalized(string name);

    [LoggerMessage(Level = LogLevel.Warning, Message = "namespace finalization failed; retrying")]
    private partial void LogFailed(Exception e);
}
