using System.Text.Json.Nodes;

namespace Tugboat.Scheduler.Framework;

/// <summary>An image a node reports (status.images): its size, and on how many of the cluster's nodes it is.</summary>
public sealed class ImageStateSummary(long size)
{
    public long Size { get; } = size;

    /// <summary>Nodes that have the image; shared by every node's summary once the cache has counted them.</summary>
    public int NumNodes { get; internal set; } = 1;
}

/// <summary>
/// The scheduler cache's image index (upstream's imageStates): one summary per image name, shared by the nodes that
/// have it, so that each node's <see cref="NodeInfo.ImageStates"/> knows how widely its images are spread.
/// </summary>
public sealed class ImageStates
{
    private readonly Dictionary<string, ImageStateSummary> _byName = new(StringComparer.Ordinal);

    /// <summary>Counts a node's images and points its summaries at the shared ones.</summary>
    public void Add(NodeInfo node)
    {
        foreach (var (name, own) in node.ImageStates.ToList())
        {
            if (_byName.TryGetValue(name, out var shared))
            {
                shared.NumNodes++;
            }
            else
            {
                _byName[name] = shared = new ImageStateSummary(own.Size);
            }
            node.ShareImageState(name, shared);
        }
    }

    /// <summary>Uncounts a node's images (the node was removed or is being replaced by a newer copy).</summary>
    public void Remove(NodeInfo node)
    {
        foreach (var name in node.ImageStates.Keys)
        {
            if (_byName.TryGetValue(name, out var shared) && --shared.NumNodes <= 0)
            {
                _byName.Remove(name);
            }
        }
    }

    /// <summary>The images of a node object by every name they are known by, with their sizes; null when it reports none.</summary>
    public static Dictionary<string, ImageStateSummary>? Of(JsonObject node)
    {
        if (node["status"]?["images"] is not JsonArray { Count: > 0 } list)
        {
            return null;
        }
        var images = new Dictionary<string, ImageStateSummary>(StringComparer.Ordinal);
        foreach (var image in list.OfType<JsonObject>())
        {
            var size = image["sizeBytes"] is JsonValue v && v.TryGetValue<long>(out var s) ? s : 0;
            foreach (var name in image["names"]?.AsArray().Select(n => n?.GetValue<string>()).OfType<string>() ?? [])
            {
                images[name] = new ImageStateSummary(size);
            }
        }
        return images;
    }
}
