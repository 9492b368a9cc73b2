using System.Text.Json.Nodes;
using System.Threading.Channels;
using Tugboat.Api.Meta;

namespace Tugboat.Client;

/// <summary>
/// Records core/v1 Events about objects, as client-go's event recorder: best effort, written in the background by a
/// few writers from a bounded buffer (the oldest are dropped when the API cannot keep up), never blocking the caller.
/// </summary>
public sealed class EventRecorder(ApiClient client, string component)
{
    private readonly Channel<JsonObject> _events = Channel.CreateBounded<JsonObject>(new BoundedChannelOptions(10_000) { FullMode = BoundedChannelFullMode.DropOldest });

    /// <summary>Queues an event about <paramref name="involved"/> (an object with metadata) of the given kind.</summary>
    public void Record(JsonObject involved, string apiVersion, string kind, string type, string reason, string message)
    {
        var meta = involved["metadata"];
        var name = meta?["name"]?.GetValue<string>() ?? string.Empty;
        var ns = meta?["namespace"]?.GetValue<string>() ?? "default";
        var now = Times.Format(DateTimeOffset.UtcNow);
        _events.Writer.TryWrite(new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Event",
            ["metadata"] = new JsonObject { ["generateName"] = name + ".", ["namespace"] = ns },
            ["involvedObject"] = new JsonObject
            {
                ["apiVersion"] = apiVersion,
                ["kind"] = kind,
                ["name"] = name,
                // Cluster-scoped objects (nodes) have none; their events live in "default", as upstream's do.
                ["namespace"] = meta?["namespace"]?.DeepClone(),
                ["uid"] = meta?["uid"]?.DeepClone(),
                ["resourceVersion"] = meta?["resourceVersion"]?.DeepClone(),
            },
            ["reason"] = reason,
            ["message"] = message,
            ["source"] = new JsonObject { ["component"] = component },
            ["firstTimestamp"] = now,
            ["lastTimestamp"] = now,
            ["count"] = 1,
            ["type"] = type,
            ["reportingComponent"] = component,
            ["reportingInstance"] = component,
        });
    }

    /// <summary>Writes queued events until <paramref name="ct"/> is cancelled.</summary>
    public Task RunAsync(CancellationToken ct) => Task.WhenAll(Enumerable.Range(0, 2).Select(_ => WriteAsync(ct)));

    private async Task WriteAsync(CancellationToken ct)
    {
        try
        {
            await foreach (var e in _events.Reader.ReadAllAsync(ct).ConfigureAwait(false))
            {
                try
                {
                    await client.CreateIgnoringResultAsync($"/api/v1/namespaces/{e["metadata"]!["namespace"]}/events", e, ct).ConfigureAwait(false);
                }
                catch (Exception ex) when (!ct.IsCancellationRequested && ex is ApiError or HttpRequestException)
                {
                    // Best effort, as upstream's recorder: an event that cannot be written is dropped.
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }
}
