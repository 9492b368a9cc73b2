using System.Text.Json.Nodes;
using Tugboat.Client;
using Tugboat.Controllers.Runtime;

namespace Tugboat.Controllers.ServiceLoadBalancer;

/// <summary>
/// The service load balancer of a cluster without a cloud (k3s's ServiceLB role): a Service of type LoadBalancer gets
/// the InternalIP of every ready, schedulable node as its <c>status.loadBalancer.ingress</c>, and each node's proxy
/// serves the service port on those addresses. Other Services have their load balancer status cleared.
/// </summary>
public sealed class ServiceLoadBalancerController : IReconciler
{
    private readonly ApiClient _client;
    private readonly Informer _services;
    private readonly Informer _nodes;

    public ServiceLoadBalancerController(ApiClient client, InformerFactory informers, WorkQueue<string> queue)
    {
        _client = client;
        Queue = queue;
        _services = informers.For("/api/v1/services");
        _nodes = informers.For("/api/v1/nodes");
        _services.Added += s => Queue.Add(Informer.KeyOf(s));
        _services.Updated += (_, s) => Queue.Add(Informer.KeyOf(s));
        _nodes.Added += _ => AllLoadBalancers();
        _nodes.Updated += (before, after) =>
        {
            if (Addresses([before]).SequenceEqual(Addresses([after])) is false)
            {
                AllLoadBalancers();
            }
        };
        _nodes.Deleted += _ => AllLoadBalancers();
    }

    public WorkQueue<string> Queue { get; }

    public IReadOnlyList<Informer> Informers => [_services, _nodes];

    private void AllLoadBalancers()
    {
        foreach (var svc in _services.List().Where(s => s["spec"]?["type"]?.GetValue<string>() == "LoadBalancer"))
        {
            Queue.Add(Informer.KeyOf(svc));
        }
    }

    /// <summary>The InternalIPs of the nodes that are Ready and schedulable, in order.</summary>
    internal static List<string> Addresses(IEnumerable<JsonObject> nodes) =>
        nodes.Where(n => n["spec"]?["unschedulable"]?.GetValue<bool>() != true
                && n["status"]?["conditions"]?.AsArray().OfType<JsonObject>().Any(c => c["type"]?.GetValue<string>() == "Ready" && c["status"]?.GetValue<string>() == "True") == true)
            .SelectMany(n => n["status"]?["addresses"]?.AsArray().OfType<JsonObject>().Where(a => a["type"]?.GetValue<string>() == "InternalIP").Select(a => a["address"]!.GetValue<string>()) ?? [])
            .Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();

    public async Task ReconcileAsync(string key, CancellationToken cancellationToken)
    {
        var svc = _services.Get(key);
        // A loadBalancerClass hands the Service to another controller, whose status is left alone.
        if (svc is null || svc["metadata"]?["deletionTimestamp"] is not null || svc["spec"]?["loadBalancerClass"] is not null)
        {
            return;
        }
        var wanted = svc["spec"]?["type"]?.GetValue<string>() == "LoadBalancer" ? Addresses(_nodes.List()) : [];
        var current = svc["status"]?["loadBalancer"]?["ingress"]?.AsArray().OfType<JsonObject>().Select(i => i["ip"]?.GetValue<string>() ?? string.Empty).ToList() ?? [];
        if (current.SequenceEqual(wanted, StringComparer.Ordinal))
        {
            return;
        }
        var ingress = new JsonArray(wanted.Select(ip => (JsonNode)new JsonObject { ["ip"] = ip }).ToArray());
        var meta = svc["metadata"]!;
        try
        {
            await _client.MergePatchAsync($"/api/v1/namespaces/{meta["namespace"]}/services/{meta["name"]}/status", new JsonObject
            {
                ["status"] = new JsonObject { ["loadBalancer"] = new JsonObject { ["ingress"] = wanted.Count > 0 ? ingress : null } },
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (ApiError e) when (e.IsNotFound)
        {
        }
    }
}
