using System.Text.Json.Nodes;
using Tugboat.Api.Meta;

namespace Tugboat.Scheduler.Framework;

/// <summary>
/// A node and what is placed on it: allocatable resources, the sum of its pods' requests, their host ports, and the
/// pods themselves (for inter-pod affinity). Kept up to date by the scheduler cache.
/// </summary>
public sealed class NodeInfo
{
    private readonly Dictionary<string, PodInfo> _pods = new(StringComparer.Ordinal);

    public NodeInfo(JsonObject node)
    {
        Node = node;
        Name = node["metadata"]?["name"]?.GetValue<string>() ?? string.Empty;
        Labels = (node["metadata"]?["labels"] as JsonObject)?.Where(kv => kv.Value is JsonValue).ToDictionary(kv => kv.Key, kv => kv.Value!.ToString(), StringComparer.Ordinal)
            ?? new Dictionary<string, string>(StringComparer.Ordinal);
        var allocatable = node["status"]?["allocatable"];
        AllocatableMilliCpu = Quantity.Milli(allocatable?["cpu"]);
        AllocatableMemory = Quantity.Value(allocatable?["memory"]);
        AllocatablePods = Quantity.Value(allocatable?["pods"]);
        AllocatableEphemeralStorage = Quantity.Value(allocatable?["ephemeral-storage"]);
        Unschedulable = node["spec"]?["unschedulable"] is JsonValue u && u.TryGetValue<bool>(out var b) && b;
        // Nodes without taints share the empty array, so the per-node checks touch nothing of their own.
        Taints = node["spec"]?["taints"]?.AsArray().OfType<JsonObject>().ToArray() is { Length: > 0 } taints ? taints : [];
        _images = Framework.ImageStates.Of(node);
    }

    private static readonly Dictionary<string, ImageStateSummary> NoImages = [];

    /// <summary>Null for the many nodes that report no images.</summary>
    private readonly Dictionary<string, ImageStateSummary>? _images;

    /// <summary>The node's images by name (status.images), each knowing how many nodes have it once the cache has counted them.</summary>
    public IReadOnlyDictionary<string, ImageStateSummary> ImageStates => _images ?? NoImages;

    internal void ShareImageState(string name, ImageStateSummary shared) => _images![name] = shared;

    public JsonObject Node { get; }
    public string Name { get; }
    public IReadOnlyDictionary<string, string> Labels { get; }
    public long AllocatableMilliCpu { get; }
    public long AllocatableMemory { get; }
    public long AllocatablePods { get; }
    public long AllocatableEphemeralStorage { get; }
    public bool Unschedulable { get; }
    public JsonObject[] Taints { get; }

    public long RequestedMilliCpu { get; private set; }
    public long RequestedMemory { get; private set; }
    public long RequestedEphemeralStorage { get; private set; }

    /// <summary>Requests counting pods without any as 100m cpu and 200 MiB (upstream's non-zero requests, used only for scoring so that such pods spread).</summary>
    public long NonZeroMilliCpu { get; private set; }

    public long NonZeroMemory { get; private set; }
    public int PodCount { get; private set; }

    /// <summary>Pods here with required anti-affinity terms, which every incoming pod is checked against.</summary>
    public int AntiAffinityPodCount { get; private set; }
    public IEnumerable<PodInfo> Pods => _pods.Values;

    /// <summary>Host ports in use: (ip, protocol, port); 0.0.0.0 conflicts with every address.</summary>
    public List<(string Ip, string Protocol, int Port)> UsedPorts { get; } = [];

    /// <summary>A copy for a changed node object that keeps the pods placed on it.</summary>
    public NodeInfo WithNode(JsonObject node)
    {
        var copy = new NodeInfo(node);
        foreach (var p in _pods.Values)
        {
            copy.AddPod(p);
        }
        return copy;
    }

    public bool HasPod(string uid) => _pods.ContainsKey(uid);

    public void AddPod(PodInfo pod)
    {
        if (!_pods.TryAdd(pod.Uid, pod))
        {
            return;
        }
        PodCount++;
        RequestedMilliCpu += pod.MilliCpu;
        RequestedMemory += pod.Memory;
        RequestedEphemeralStorage += pod.EphemeralStorage;
        NonZeroMilliCpu += Plugins.NodeResourcesFit.NodeResourcesFit.NonZeroCpu(pod);
        NonZeroMemory += Plugins.NodeResourcesFit.NodeResourcesFit.NonZeroMemory(pod);
        UsedPorts.AddRange(pod.HostPorts);
        AntiAffinityPodCount += pod.HasRequiredAntiAffinity ? 1 : 0;
    }

    /// <summary>Takes the pod off this node; returns it, or null when it was not here.</summary>
    public PodInfo? RemovePod(string uid)
    {
        if (!_pods.Remove(uid, out var pod))
        {
            return null;
        }
        PodCount--;
        RequestedMilliCpu -= pod.MilliCpu;
        RequestedMemory -= pod.Memory;
        RequestedEphemeralStorage -= pod.EphemeralStorage;
        NonZeroMilliCpu -= Plugins.NodeResourcesFit.NodeResourcesFit.NonZeroCpu(pod);
        NonZeroMemory -= Plugins.NodeResourcesFit.NodeResourcesFit.NonZeroMemory(pod);
        foreach (var port in pod.HostPorts)
        {
            UsedPorts.Remove(port);
        }
        AntiAffinityPodCount -= pod.HasRequiredAntiAffinity ? 1 : 0;
        return pod;
    }
}
