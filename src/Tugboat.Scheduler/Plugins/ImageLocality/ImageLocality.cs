using Tugboat.Scheduler.Framework;

namespace Tugboat.Scheduler.Plugins.ImageLocality;

/// <summary>
/// Prefers nodes that already have the pod's images (upstream's ImageLocality): each image present counts its size
/// scaled by the share of nodes that have it (so an image everywhere does not pull pods together), the sum is clamped
/// between 23 MB and 1,000 MB per container and mapped onto 0–100. Names are compared as the node reports them; a pod
/// image without a tag is looked up as <c>:latest</c>.
/// </summary>
public sealed class ImageLocality : IPreFilterPlugin, IScorePlugin
{
    private const long Mb = 1024 * 1024;
    public const long MinThreshold = 23 * Mb;
    public const long MaxContainerThreshold = 1000 * Mb;

    public string Name => nameof(ImageLocality);

    /// <summary>Records how many nodes the cluster has (the denominator of each image's spread).</summary>
    public Status PreFilter(CycleState state, PodInfo pod, IReadOnlyList<NodeInfo> nodes)
    {
        state.Write(Name, new NodeCount(nodes.Count));
        return Status.Success;
    }

    public long Score(CycleState state, PodInfo pod, NodeInfo node)
    {
        if (node.ImageStates.Count == 0)
        {
            return 0;
        }
        var total = state.Read<NodeCount>(Name)?.Count ?? 0;
        long sum = 0;
        foreach (var image in pod.Images)
        {
            if (node.ImageStates.TryGetValue(Normalized(image), out var summary) && total > 0)
            {
                sum += (long)(summary.Size * ((double)summary.NumNodes / total));
            }
        }
        return Priority(sum, pod.Images.Count);
    }

    private sealed record NodeCount(int Count);

    /// <summary>Upstream's calculatePriority: the clamped sum mapped linearly onto 0–100.</summary>
    public static long Priority(long sum, int containers)
    {
        var max = MaxContainerThreshold * Math.Max(1, containers);
        sum = Math.Clamp(sum, MinThreshold, max);
        return IScorePlugin.MaxNodeScore * (sum - MinThreshold) / (max - MinThreshold);
    }

    /// <summary>A name without a tag (no ':' after the last '/') is the <c>latest</c> tag.</summary>
    public static string Normalized(string image) =>
        image.LastIndexOf(':') <= image.LastIndexOf('/') ? image + ":latest" : image;
}
