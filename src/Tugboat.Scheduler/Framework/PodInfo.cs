using System.Text.Json.Nodes;
using Tugboat.Api.Meta;

namespace Tugboat.Scheduler.Framework;

/// <summary>A pod as the scheduler reads it: identity, requests, host ports and the placement rules, parsed once.</summary>
public sealed class PodInfo
{
    public PodInfo(JsonObject pod)
    {
        Pod = pod;
        var meta = pod["metadata"] as JsonObject;
        Namespace = meta?["namespace"]?.GetValue<string>() ?? "default";
        Name = meta?["name"]?.GetValue<string>() ?? string.Empty;
        Uid = meta?["uid"]?.GetValue<string>() ?? Namespace + "/" + Name;
        Labels = (meta?["labels"] as JsonObject)?.Where(kv => kv.Value is JsonValue).ToDictionary(kv => kv.Key, kv => kv.Value!.ToString(), StringComparer.Ordinal)
            ?? new Dictionary<string, string>(StringComparer.Ordinal);
        var spec = pod["spec"] as JsonObject ?? [];
        Spec = spec;
        NodeName = spec["nodeName"]?.GetValue<string>();
        Priority = spec["priority"] is JsonValue p && p.TryGetValue<int>(out var prio) ? prio : 0;
        // Effective requests, as upstream computes them: the sum of the app containers, at least the largest init
        // container, plus the pod overhead.
        var cpu = 0L;
        var memory = 0L;
        var storage = 0L;
        foreach (var c in spec["containers"]?.AsArray() ?? [])
        {
            var requests = c?["resources"]?["requests"];
            cpu += Quantity.Milli(requests?["cpu"]);
            memory += Quantity.Value(requests?["memory"]);
            storage += Quantity.Value(requests?["ephemeral-storage"]);
            foreach (var port in c?["ports"]?.AsArray() ?? [])
            {
                if (port?["hostPort"] is JsonValue hp && hp.TryGetValue<int>(out var hostPort) && hostPort > 0)
                {
                    HostPorts.Add((port["hostIP"]?.GetValue<string>() ?? "0.0.0.0", port["protocol"]?.GetValue<string>() ?? "TCP", hostPort));
                }
            }
        }
        foreach (var c in spec["initContainers"]?.AsArray() ?? [])
        {
            var requests = c?["resources"]?["requests"];
            cpu = Math.Max(cpu, Quantity.Milli(requests?["cpu"]));
            memory = Math.Max(memory, Quantity.Value(requests?["memory"]));
            storage = Math.Max(storage, Quantity.Value(requests?["ephemeral-storage"]));
        }
        var overhead = spec["overhead"];
        MilliCpu = cpu + Quantity.Milli(overhead?["cpu"]);
        Memory = memory + Quantity.Value(overhead?["memory"]);
        EphemeralStorage = storage;
        Tolerations = spec["tolerations"]?.AsArray().OfType<JsonObject>().ToArray() ?? [];
        Affinity = spec["affinity"] as JsonObject;
        NodeSelector = spec["nodeSelector"] as JsonObject;
        RequiredNodeSelectorTerms = Affinity?["nodeAffinity"]?["requiredDuringSchedulingIgnoredDuringExecution"]?["nodeSelectorTerms"] as JsonArray;
        PreferredNodeAffinityTerms = Affinity?["nodeAffinity"]?["preferredDuringSchedulingIgnoredDuringExecution"] as JsonArray;
    }

    public JsonObject Pod { get; }
    public JsonObject Spec { get; }

    /// <summary>The images of the init and app containers, in order (read once, when first asked for).</summary>
    public IReadOnlyList<string> Images => _images ??=
        [.. ((string[])["initContainers", "containers"]).SelectMany(list => Spec[list]?.AsArray().OfType<JsonObject>() ?? [])
            .Select(c => c["image"]?.GetValue<string>()).OfType<string>()];

    private IReadOnlyList<string>? _images;
    public string Namespace { get; }
    public string Name { get; }
    public string Uid { get; }
    public string? NodeName { get; }
    public int Priority { get; }
    public IReadOnlyDictionary<string, string> Labels { get; }
    public long MilliCpu { get; }
    public long Memory { get; }
    public long EphemeralStorage { get; }
    public List<(string Ip, string Protocol, int Port)> HostPorts { get; } = [];
    public JsonObject[] Tolerations { get; }
    public JsonObject? Affinity { get; }

    /// <summary>spec.nodeSelector, or null.</summary>
    public JsonObject? NodeSelector { get; }

    /// <summary>The required node affinity's nodeSelectorTerms, or null.</summary>
    public JsonArray? RequiredNodeSelectorTerms { get; }

    /// <summary>The preferred node affinity terms, or null.</summary>
    public JsonArray? PreferredNodeAffinityTerms { get; }

    public string Key => Namespace + "/" + Name;

    public bool HasRequiredAntiAffinity => Affinity?["podAntiAffinity"]?["requiredDuringSchedulingIgnoredDuringExecution"] is JsonArray { Count: > 0 };
}
