using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Tugboat.Api.Serialization;
using Tugboat.Api.Streaming;
using Tugboat.ApiServer.Registry;
using Tugboat.ApiServer.Security;
using static Tugboat.ApiServer.Handlers.Responses;

namespace Tugboat.ApiServer.NodeProxy;

/// <summary>metrics.k8s.io answered from the node agents' resource samples (the metrics server's role).</summary>
internal sealed class MetricsApi(Registry.Registry registry, KubeletClient kubelets)
{
    /// <summary>
    /// metrics.k8s.io: NodeMetrics and PodMetrics from the agents' current samples. Nodes whose agent does not answer
    /// (simulated nodes, dead machines) and pods without a sample yet are left out, as the metrics server does.
    /// </summary>
    public async Task MetricsAsync(HttpContext http, ResourceType rt, string? ns, string? name)
    {
        var ct = http.RequestAborted;
        var selector = Tugboat.Api.Meta.LabelSelector.Parse(http.Request.Query["labelSelector"].ToString());
        var nodeType = registry.Catalog.Get(string.Empty, "Node");
        var nodes = (await registry.ListAsync(nodeType, null, new ListOptions(), ct).ConfigureAwait(false)).Items.Select(ObjectCodec.Decode).ToList();
        List<JsonObject> pods = [];
        if (rt.Kind == "PodMetrics")
        {
            var podType = registry.Catalog.Get(string.Empty, "Pod");
            pods = (await registry.ListAsync(podType, ns, new ListOptions { Labels = selector }, ct).ConfigureAwait(false)).Items.Select(ObjectCodec.Decode)
                .Where(p => name is null || p.Str("metadata", "name") == name).ToList();
            var wanted = pods.Select(p => p.Str("spec", "nodeName")).Where(n => !string.IsNullOrEmpty(n)).ToHashSet(StringComparer.Ordinal);
            nodes = nodes.Where(n => wanted.Contains(n.Str("metadata", "name")!)).ToList();
        }
        else
        {
            nodes = nodes.Where(n => (name is null || n.Str("metadata", "name") == name) && selector.Matches(Labels(n))).ToList();
        }
        var stats = await Task.WhenAll(nodes.Select(async n => (Node: n, Stats: await kubelets.NodeStatsAsync(n, ct).ConfigureAwait(false)))).ConfigureAwait(false);
        var items = new List<JsonObject>();
        if (rt.Kind == "NodeMetrics")
        {
            items.AddRange(stats.Where(s => s.Stats?["node"] is JsonObject).Select(s => Metrics.NodeMetrics(s.Node, s.Stats!["node"]!.AsObject())));
        }
        else
        {
            var byPod = stats.Where(s => s.Stats is not null).SelectMany(s => (s.Stats!["pods"]?.AsArray() ?? []).OfType<JsonObject>().Select(p => (Pod: p, s.Stats)))
                .ToDictionary(p => $"{p.Pod["namespace"]}/{p.Pod["name"]}", StringComparer.Ordinal);
            foreach (var pod in pods)
            {
                if (byPod.TryGetValue($"{pod.Str("metadata", "namespace")}/{pod.Str("metadata", "name")}", out var found))
                {
                    items.Add(Metrics.PodMetrics(pod, found.Pod, found.Stats!["node"]?["time"], found.Stats!["node"]?["window"]));
                }
            }
        }
        if (name is not null)
        {
            var item = items.FirstOrDefault() ?? throw new ApiException(404, "NotFound", $"{rt.Plural}.{Metrics.Group} \"{name}\" not found");
            await WriteJsonAsync(http, 200, item).ConfigureAwait(false);
            return;
        }
        await WriteJsonAsync(http, 200, new JsonObject
        {
            ["kind"] = rt.Kind + "List",
            ["apiVersion"] = Metrics.Group + "/v1beta1",
            ["metadata"] = new JsonObject(),
            ["items"] = new JsonArray(items.Select(i => (JsonNode?)i).ToArray()),
        }).ConfigureAwait(false);
    }

    private static Dictionary<string, string> Labels(JsonObject obj) =>
        obj["metadata"]?["labels"]?.AsObject().ToDictionary(p => p.Key, p => p.Value?.GetValue<string>() ?? string.Empty, StringComparer.Ordinal) ?? [];
}
