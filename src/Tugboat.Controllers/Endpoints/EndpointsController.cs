using System.Text.Json.Nodes;
using Tugboat.Api.Serialization;
using Tugboat.Client;
using Tugboat.Controllers.Runtime;
using static Tugboat.Controllers.Runtime.Owners;

namespace Tugboat.Controllers.Endpoints;

/// <summary>
/// Upstream's endpoints and endpointslice controllers for Services with a selector: each pod the selector matches that
/// has an IP becomes an address — ready pods in <c>addresses</c>, others in <c>notReadyAddresses</c> (or all of them when
/// the Service publishes not-ready addresses) — with the Service's ports resolved per pod (named target ports by the
/// container port's name). One EndpointSlice (owned by the Service, labelled with its name and named from
/// <c>&lt;service&gt;-</c> by the server, as upstream's controller names them) carries the same endpoints with their
/// conditions; a deleted slice is made again. The Endpoints object goes when its Service does.
/// Services without a selector are left to whoever manages their endpoints.
/// </summary>
public sealed class EndpointsController : IReconciler
{
    private const string ServiceNameLabel = "kubernetes.io/service-name";
    private readonly ApiClient _client;
    private readonly Informer _services;
    private readonly Informer _pods;
    private readonly Informer _slices;

    // The slice made for each Service, until the slice cache has seen it: a reconcile right after the create must not
    // make a second one.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> _made = new(StringComparer.Ordinal);

    public EndpointsController(ApiClient client, InformerFactory informers, WorkQueue<string> queue)
    {
        _client = client;
        Queue = queue;
        _services = informers.For("/api/v1/services", TimeSpan.FromMinutes(10));
        _pods = informers.For("/api/v1/pods", TimeSpan.FromMinutes(10));
        _services.Added += s => queue.Add(Informer.KeyOf(s));
        _services.Updated += (_, s) => queue.Add(Informer.KeyOf(s));
        _services.Deleted += s => queue.Add(Informer.KeyOf(s));
        _pods.Added += PodChanged;
        _pods.Updated += (old, p) =>
        {
            PodChanged(old);
            PodChanged(p);
        };
        _pods.Deleted += PodChanged;
        _slices = informers.For("/apis/discovery.k8s.io/v1/endpointslices", TimeSpan.FromMinutes(10));
        _slices.Deleted += slice =>
        {
            if (Labels(slice).TryGetValue(ServiceNameLabel, out var service))
            {
                var key = Namespace(slice) + "/" + service;
                _made.TryRemove(new KeyValuePair<string, string>(key, Name(slice)));
                queue.Add(key);
            }
        };
    }

    public WorkQueue<string> Queue { get; }

    public IReadOnlyList<Informer> Informers => [_services, _pods, _slices];

    private void PodChanged(JsonObject pod)
    {
        var labels = Labels(pod);
        foreach (var svc in _services.List().Where(s => Namespace(s) == Namespace(pod)))
        {
            if (ServiceSelector(svc) is { Count: > 0 } selector && selector.All(kv => labels.TryGetValue(kv.Key, out var v) && v == kv.Value))
            {
                Queue.Add(Informer.KeyOf(svc));
            }
        }
    }

    public async Task ReconcileAsync(string key, CancellationToken ct)
    {
        var svc = _services.Get(key);
        if (svc is null)
        {
            // As upstream: Endpoints go with their Service (the EndpointSlice is owned by it and collected).
            var slash = key.IndexOf('/');
            try
            {
                await _client.DeleteAsync($"/api/v1/namespaces/{key[..slash]}/endpoints/{key[(slash + 1)..]}", null, ct).ConfigureAwait(false);
            }
            catch (ApiError e) when (e.IsNotFound)
            {
            }
            _made.TryRemove(key, out _);
            return;
        }
        if (ServiceSelector(svc) is not { Count: > 0 } selector)
        {
            return;
        }
        var ns = Namespace(svc);
        var name = Name(svc);
        var publishNotReady = svc["spec"]?["publishNotReadyAddresses"]?.GetValue<bool>() == true;
        var pods = _pods.List()
            .Where(p => Namespace(p) == ns && !Deleting(p) && p["status"]?["podIP"] is not null)
            .Where(p => selector.All(kv => Labels(p).TryGetValue(kv.Key, out var v) && v == kv.Value))
            .OrderBy(p => p["status"]!["podIP"]!.GetValue<string>(), StringComparer.Ordinal)
            .ToList();
        var subsets = new List<JsonObject>();
        var sliceEndpoints = new JsonArray();
        var slicePorts = new Dictionary<string, JsonObject>(StringComparer.Ordinal);
        // Pods that resolve the ports to the same numbers share a subset, as upstream groups them.
        foreach (var group in pods.GroupBy(p => PortsFor(svc, p).ToJsonString(JsonLimits.Writer)))
        {
            var ports = (JsonArray)JsonNode.Parse(group.Key)!;
            var ready = new JsonArray();
            var notReady = new JsonArray();
            foreach (var pod in group)
            {
                var address = new JsonObject
                {
                    ["ip"] = pod["status"]!["podIP"]!.DeepClone(),
                    ["targetRef"] = new JsonObject
                    {
                        ["kind"] = "Pod",
                        ["namespace"] = ns,
                        ["name"] = Name(pod),
                        ["uid"] = pod["metadata"]!["uid"]!.DeepClone(),
                    },
                };
                if (pod["spec"]?["nodeName"] is { } node)
                {
                    address["nodeName"] = node.DeepClone();
                }
                var isReady = IsReady(pod);
                (isReady || publishNotReady ? ready : notReady).Add(address);
                sliceEndpoints.Add(new JsonObject
                {
                    ["addresses"] = new JsonArray(pod["status"]!["podIP"]!.DeepClone()),
                    ["conditions"] = new JsonObject { ["ready"] = isReady || publishNotReady, ["serving"] = isReady, ["terminating"] = false },
                    ["targetRef"] = address["targetRef"]!.DeepClone(),
                    ["nodeName"] = pod["spec"]?["nodeName"]?.DeepClone(),
                });
            }
            var subset = new JsonObject();
            if (ready.Count > 0)
            {
                subset["addresses"] = ready;
            }
            if (notReady.Count > 0)
            {
                subset["notReadyAddresses"] = notReady;
            }
            subset["ports"] = ports;
            subsets.Add(subset);
            foreach (var port in ports.OfType<JsonObject>())
            {
                slicePorts[port["name"]?.GetValue<string>() ?? string.Empty] = (JsonObject)port.DeepClone();
            }
        }
        var endpoints = new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Endpoints",
            ["metadata"] = new JsonObject
            {
                ["name"] = name,
                ["namespace"] = ns,
                ["labels"] = svc["metadata"]?["labels"]?.DeepClone(),
            },
        };
        if (subsets.Count > 0)
        {
            endpoints["subsets"] = new JsonArray(subsets.Select(s => (JsonNode)s).ToArray());
        }
        await UpsertAsync($"/api/v1/namespaces/{ns}/endpoints", name, endpoints, ct).ConfigureAwait(false);

        var sliceLabels = svc["metadata"]?["labels"]?.DeepClone() as JsonObject ?? new JsonObject();
        sliceLabels[ServiceNameLabel] = name;
        sliceLabels["endpointslice.kubernetes.io/managed-by"] = "endpointslice-controller.k8s.io";
        var slice = new JsonObject
        {
            ["apiVersion"] = "discovery.k8s.io/v1",
            ["kind"] = "EndpointSlice",
            ["metadata"] = new JsonObject
            {
                ["namespace"] = ns,
                ["labels"] = sliceLabels,
                ["ownerReferences"] = new JsonArray(Reference(svc, "v1", "Service")),
            },
            ["addressType"] = "IPv4",
            ["endpoints"] = sliceEndpoints,
            ["ports"] = new JsonArray(slicePorts.Values.Select(p => (JsonNode)p).ToArray()),
        };
        var slices = $"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices";
        var existing = _slices.List()
            .Where(e => Namespace(e) == ns && Labels(e).TryGetValue(ServiceNameLabel, out var service) && service == name && !Deleting(e))
            .Select(Name).Order(StringComparer.Ordinal).FirstOrDefault();
        if (existing is null && _made.TryGetValue(key, out var made) && _slices.Get(ns + "/" + made) is null)
        {
            existing = made;
        }
        if (existing is null)
        {
            slice["metadata"]!["generateName"] = name + "-";
            var created = await _client.CreateAsync(slices, slice, ct).ConfigureAwait(false);
            _made[key] = Name(created);
            return;
        }
        slice["metadata"]!["name"] = existing;
        await UpsertAsync(slices, existing, slice, ct).ConfigureAwait(false);
    }

    /// <summary>The Service's ports as this pod serves them: a named target port is the pod's container port of that name.</summary>
    private static JsonArray PortsFor(JsonObject svc, JsonObject pod)
    {
        var result = new JsonArray();
        foreach (var port in svc["spec"]?["ports"]?.AsArray().OfType<JsonObject>() ?? [])
        {
            var target = port["targetPort"] ?? port["port"];
            long? number = target is JsonValue v && long.TryParse(v.ToString(), out var n) ? n : null;
            if (number is null && target?.ToString() is { } portName)
            {
                number = pod["spec"]?["containers"]?.AsArray().OfType<JsonObject>()
                    .SelectMany(c => c["ports"]?.AsArray().OfType<JsonObject>() ?? [])
                    .FirstOrDefault(p => p["name"]?.GetValue<string>() == portName)?["containerPort"] is { } cp ? Long(cp) : null;
            }
            if (number is null)
            {
                continue;
            }
            var entry = new JsonObject();
            if (port["name"] is { } nameNode)
            {
                entry["name"] = nameNode.DeepClone();
            }
            entry["port"] = number.Value;
            entry["protocol"] = port["protocol"]?.DeepClone() ?? "TCP";
            result.Add(entry);
        }
        return result;
    }

    private async Task UpsertAsync(string collection, string name, JsonObject desired, CancellationToken ct)
    {
        JsonObject current;
        try
        {
            current = await _client.GetAsync($"{collection}/{name}", ct).ConfigureAwait(false);
        }
        catch (ApiError e) when (e.IsNotFound)
        {
            await _client.CreateAsync(collection, desired, ct).ConfigureAwait(false);
            return;
        }
        var same = true;
        foreach (var (field, value) in desired)
        {
            if (field != "metadata" && !JsonNode.DeepEquals(value, current[field]))
            {
                same = false;
            }
        }
        same &= desired["subsets"] is not null || current["subsets"] is null;
        same &= JsonNode.DeepEquals(desired["metadata"]!["labels"], current["metadata"]?["labels"]);
        if (same)
        {
            return;
        }
        var update = (JsonObject)desired.DeepClone();
        update["metadata"]!["resourceVersion"] = current["metadata"]!["resourceVersion"]!.DeepClone();
        await _client.UpdateAsync($"{collection}/{name}", update, ct).ConfigureAwait(false);
    }

    private static Dictionary<string, string>? ServiceSelector(JsonObject svc) => LabelsOf(svc["spec"]?["selector"] as JsonObject);

}
