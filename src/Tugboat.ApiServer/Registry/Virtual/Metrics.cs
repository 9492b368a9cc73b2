using System.Globalization;
using System.Text.Json.Nodes;
using Tugboat.ApiServer.Registry;

namespace Tugboat.ApiServer.Registry;

/// <summary>
/// The resource metrics API (metrics.k8s.io/v1beta1, the metrics-server's role): NodeMetrics and PodMetrics built when
/// asked from each node agent's <c>/stats/resource</c> (CPU as a rate over the agent's last sampling window, memory as
/// working set), so that <c>kubectl top</c> works without a separate metrics server.
/// </summary>
internal static class Metrics
{
    public const string Group = "metrics.k8s.io";

    public static IEnumerable<ResourceType> Kinds() =>
    [
        Kind("NodeMetrics", "nodes", namespaced: false),
        Kind("PodMetrics", "pods", namespaced: true),
    ];

    private static ResourceType Kind(string kind, string plural, bool namespaced) => new()
    {
        Group = Group,
        Version = "v1beta1",
        Kind = kind,
        Plural = plural,
        Namespaced = namespaced,
        IsMetrics = true,
        Strategy = new Strategies.TableStrategy([Column.Name_()]),
    };

    public static string Cpu(long nanoCores) => nanoCores.ToString(CultureInfo.InvariantCulture) + "n";

    public static string Memory(long bytes) => (bytes / 1024).ToString(CultureInfo.InvariantCulture) + "Ki";

    public static JsonObject NodeMetrics(JsonObject node, JsonObject stats) => new()
    {
        ["kind"] = "NodeMetrics",
        ["apiVersion"] = Group + "/v1beta1",
        ["metadata"] = new JsonObject
        {
            ["name"] = node["metadata"]!["name"]!.DeepClone(),
            ["creationTimestamp"] = stats["time"]?.DeepClone(),
            ["labels"] = node["metadata"]?["labels"]?.DeepClone() ?? new JsonObject(),
        },
        ["timestamp"] = stats["time"]?.DeepClone(),
        ["window"] = stats["window"]?.DeepClone(),
        ["usage"] = new JsonObject
        {
            ["cpu"] = Cpu(stats["cpuNanoCores"]?.GetValue<long>() ?? 0),
            ["memory"] = Memory(stats["memoryWorkingSetBytes"]?.GetValue<long>() ?? 0),
        },
    };

    public static JsonObject PodMetrics(JsonObject pod, JsonObject stats, JsonNode? time, JsonNode? window) => new()
    {
        ["kind"] = "PodMetrics",
        ["apiVersion"] = Group + "/v1beta1",
        ["metadata"] = new JsonObject
        {
            ["name"] = pod["metadata"]!["name"]!.DeepClone(),
            ["namespace"] = pod["metadata"]!["namespace"]!.DeepClone(),
            ["creationTimestamp"] = time?.DeepClone(),
            ["labels"] = pod["metadata"]?["labels"]?.DeepClone() ?? new JsonObject(),
        },
        ["timestamp"] = time?.DeepClone(),
        ["window"] = window?.DeepClone(),
        ["containers"] = new JsonArray((stats["containers"]?.AsArray() ?? []).OfType<JsonObject>().Select(c => (JsonNode?)new JsonObject
        {
            ["name"] = c["name"]!.DeepClone(),
            ["usage"] = new JsonObject
            {
                ["cpu"] = Cpu(c["cpuNanoCores"]?.GetValue<long>() ?? 0),
                ["memory"] = Memory(c["memoryWorkingSetBytes"]?.GetValue<long>() ?? 0),
            },
        }).ToArray()),
    };
}
