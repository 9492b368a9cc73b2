using System.Globalization;
using System.Text.Json.Nodes;

namespace Tugboat.Network.Proxy;

/// <summary>A backend of a service port: a pod address and the port it serves on.</summary>
public sealed record ProxyEndpoint(string Ip, int Port, string? NodeName);

/// <summary>
/// One port of one Service as the proxy serves it: the addresses that answer (cluster IPs, node ports, load balancer
/// and external IPs) and the endpoints each kind of traffic goes to after the traffic policies are applied.
/// </summary>
public sealed record ProxyPort
{
    public required string Namespace { get; init; }

    public required string Service { get; init; }

    /// <summary>The port's name ("" for a single unnamed port).</summary>
    public required string PortName { get; init; }

    /// <summary>TCP, UDP or SCTP.</summary>
    public required string Protocol { get; init; }

    public required int Port { get; init; }

    public IReadOnlyList<string> ClusterIps { get; init; } = [];

    /// <summary>The node port, or 0.</summary>
    public int NodePort { get; init; }

    /// <summary>Load balancer ingress IPs and spec.externalIPs, served on <see cref="Port"/>.</summary>
    public IReadOnlyList<string> ExternalIps { get; init; } = [];

    /// <summary>Endpoints for traffic to the cluster IPs (internalTrafficPolicy applied).</summary>
    public IReadOnlyList<ProxyEndpoint> ClusterEndpoints { get; init; } = [];

    /// <summary>Endpoints for traffic to the node port and external IPs (externalTrafficPolicy applied).</summary>
    public IReadOnlyList<ProxyEndpoint> ExternalEndpoints { get; init; } = [];

    /// <summary>sessionAffinity ClientIP timeout in seconds, or 0 without affinity.</summary>
    public int AffinitySeconds { get; init; }
}

/// <summary>
/// Turns Services and EndpointSlices into the ports a node's proxy serves, with upstream kube-proxy's endpoint
/// selection: ready endpoints only (serving-but-terminating ones only when none is ready), Local traffic policies keep
/// the endpoints on this node, headless and ExternalName services are not proxied.
/// </summary>
public static class ServiceTable
{
    public const string ServiceNameLabel = "kubernetes.io/service-name";

    public static IReadOnlyList<ProxyPort> Build(IEnumerable<JsonObject> services, IEnumerable<JsonObject> slices, string nodeName)
    {
        var slicesByService = SlicesByService(slices.Where(s => (s["addressType"]?.GetValue<string>() ?? "IPv4") == "IPv4"));
        var result = new List<ProxyPort>();
        foreach (var svc in services)
        {
            var spec = svc["spec"] as JsonObject;
            var type = spec?["type"]?.GetValue<string>() ?? "ClusterIP";
            var clusterIp = spec?["clusterIP"]?.GetValue<string>();
            if (spec is null || type == "ExternalName" || string.IsNullOrEmpty(clusterIp) || clusterIp == "None")
            {
                continue;
            }
            var ns = svc["metadata"]!["namespace"]!.GetValue<string>();
            var name = svc["metadata"]!["name"]!.GetValue<string>();
            var clusterIps = spec["clusterIPs"]?.AsArray().Select(i => i!.GetValue<string>()).Where(IsIPv4).ToList() ?? [clusterIp];
            var externalIps = (spec["externalIPs"]?.AsArray().Select(i => i!.GetValue<string>()) ?? [])
                .Concat(type == "LoadBalancer" ? svc["status"]?["loadBalancer"]?["ingress"]?.AsArray().Select(i => i?["ip"]?.GetValue<string>()).OfType<string>() ?? [] : [])
                .Where(IsIPv4).Distinct(StringComparer.Ordinal).ToList();
            var internalLocal = spec["internalTrafficPolicy"]?.GetValue<string>() == "Local";
            var externalLocal = spec["externalTrafficPolicy"]?.GetValue<string>() == "Local" && type is "NodePort" or "LoadBalancer";
            var affinity = spec["sessionAffinity"]?.GetValue<string>() == "ClientIP"
                ? (int)(spec["sessionAffinityConfig"]?["clientIP"]?["timeoutSeconds"]?.GetValue<long>() ?? 10800)
                : 0;
            var mySlices = slicesByService.GetValueOrDefault($"{ns}/{name}") ?? [];
            foreach (var port in spec["ports"]?.AsArray().OfType<JsonObject>() ?? [])
            {
                var portName = port["name"]?.GetValue<string>() ?? string.Empty;
                var protocol = port["protocol"]?.GetValue<string>() ?? "TCP";
                var endpoints = Endpoints(mySlices, portName, protocol);
                result.Add(new ProxyPort
                {
                    Namespace = ns,
                    Service = name,
                    PortName = portName,
                    Protocol = protocol,
                    Port = (int)port["port"]!.GetValue<long>(),
                    ClusterIps = clusterIps,
                    NodePort = type is "NodePort" or "LoadBalancer" && port["nodePort"] is { } np ? (int)np.GetValue<long>() : 0,
                    ExternalIps = externalIps,
                    ClusterEndpoints = Select(endpoints, internalLocal, nodeName),
                    ExternalEndpoints = Select(endpoints, externalLocal, nodeName),
                    AffinitySeconds = affinity,
                });
            }
        }
        return result;
    }

    /// <summary>
    /// The host ports of pods running on this node (the CNI portmap plugin's role) as proxied ports: a container port
    /// with hostPort answers there on every node address (or on its hostIP) and goes to the pod's address and
    /// container port. A host port already taken by a node port or an earlier pod is left out, as the scheduler's
    /// NodePorts filter keeps such pods apart.
    /// </summary>
    public static IReadOnlyList<ProxyPort> HostPorts(IEnumerable<(JsonObject Pod, string PodIp)> pods, IEnumerable<ProxyPort> taken, string nodeName)
    {
        var used = taken.Where(p => p.NodePort > 0).Select(p => (p.Protocol, p.NodePort, "0.0.0.0")).ToHashSet();
        var result = new List<ProxyPort>();
        foreach (var (pod, podIp) in pods)
        {
            if (pod["spec"]?["hostNetwork"]?.GetValue<bool>() == true)
            {
                continue;
            }
            foreach (var port in ContainerPorts(pod))
            {
                if (port["hostPort"]?.GetValue<long>() is not ({ } hostPort and > 0) || port["containerPort"]?.GetValue<long>() is not { } containerPort)
                {
                    continue;
                }
                var protocol = port["protocol"]?.GetValue<string>() ?? "TCP";
                var hostIp = port["hostIP"]?.GetValue<string>() is { Length: > 0 } h && h != "0.0.0.0" ? h : null;
                if (used.Contains((protocol, (int)hostPort, "0.0.0.0")) || !used.Add((protocol, (int)hostPort, hostIp ?? "0.0.0.0")))
                {
                    continue;
                }
                var endpoint = new ProxyEndpoint(podIp, (int)containerPort, nodeName);
                result.Add(new ProxyPort
                {
                    Namespace = pod["metadata"]?["namespace"]?.GetValue<string>() ?? string.Empty,
                    Service = pod["metadata"]?["name"]?.GetValue<string>() ?? string.Empty,
                    PortName = "hostPort",
                    Protocol = protocol,
                    Port = (int)hostPort,
                    NodePort = hostIp is null ? (int)hostPort : 0,
                    ExternalIps = hostIp is null ? [] : [hostIp],
                    ExternalEndpoints = [endpoint],
                });
            }
        }
        return result;
    }

    /// <summary>Whether a pod asks for host ports (so the proxy must follow its address).</summary>
    public static bool HasHostPorts(JsonObject pod) => ContainerPorts(pod).Any(p => p["hostPort"]?.GetValue<long>() > 0);

    private static IEnumerable<JsonObject> ContainerPorts(JsonObject pod) =>
        (pod["spec"]?["containers"]?.AsArray() ?? []).SelectMany(c => c?["ports"]?.AsArray() ?? []).OfType<JsonObject>();

    /// <summary>EndpointSlices by the Service they belong to ("ns/name", from their kubernetes.io/service-name label).</summary>
    public static Dictionary<string, List<JsonObject>> SlicesByService(IEnumerable<JsonObject> slices) =>
        slices.Where(s => s["metadata"]?["labels"]?[ServiceNameLabel] is not null)
            .GroupBy(s => $"{s["metadata"]!["namespace"]}/{s["metadata"]!["labels"]![ServiceNameLabel]}", StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.ToList(), StringComparer.Ordinal);

    /// <summary>The endpoints of the slices' port with this name and protocol, each with its conditions (once per address and port).</summary>
    internal static List<(ProxyEndpoint Endpoint, bool Ready, bool Serving)> Endpoints(List<JsonObject> slices, string portName, string protocol)
    {
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        var list = new List<(ProxyEndpoint Endpoint, bool Ready, bool Serving)>();
        foreach (var slice in slices)
        {
            var port = slice["ports"]?.AsArray().OfType<JsonObject>()
                .FirstOrDefault(p => (p["name"]?.GetValue<string>() ?? string.Empty) == portName && (p["protocol"]?.GetValue<string>() ?? "TCP") == protocol);
            if (port?["port"] is not { } number)
            {
                continue;
            }
            foreach (var ep in slice["endpoints"]?.AsArray().OfType<JsonObject>() ?? [])
            {
                var conditions = ep["conditions"] as JsonObject;
                // Upstream: a missing ready condition means ready; serving defaults to ready; terminating to false.
                var ready = conditions?["ready"]?.GetValue<bool>() ?? true;
                var serving = conditions?["serving"]?.GetValue<bool>() ?? ready;
                foreach (var address in ep["addresses"]?.AsArray().Select(a => a!.GetValue<string>()) ?? [])
                {
                    var endpoint = new ProxyEndpoint(address, (int)number.GetValue<long>(), ep["nodeName"]?.GetValue<string>());
                    // Host-network pods share the node's address: one of them ready makes the address ready.
                    if (seen.TryGetValue($"{address}:{endpoint.Port}", out var index))
                    {
                        list[index] = (list[index].Endpoint, list[index].Ready || ready, list[index].Serving || serving);
                    }
                    else
                    {
                        seen[$"{address}:{endpoint.Port}"] = list.Count;
                        list.Add((endpoint, ready, serving));
                    }
                }
            }
        }
        return list;
    }

    /// <summary>
    /// Ready endpoints (of this node for a Local policy); when there are none, those still serving while they
    /// terminate, so that connections keep a home during a rollout's last moments (upstream ProxyTerminatingEndpoints).
    /// </summary>
    private static List<ProxyEndpoint> Select(List<(ProxyEndpoint Endpoint, bool Ready, bool Serving)> endpoints, bool local, string nodeName)
    {
        var candidates = local ? endpoints.Where(e => e.Endpoint.NodeName == nodeName).ToList() : endpoints;
        var ready = candidates.Where(e => e.Ready).Select(e => e.Endpoint).ToList();
        return (ready.Count > 0 ? ready : candidates.Where(e => e.Serving).Select(e => e.Endpoint))
            .OrderBy(e => e.Ip, StringComparer.Ordinal).ThenBy(e => e.Port).ToList();
    }

    private static bool IsIPv4(string ip) => System.Net.IPAddress.TryParse(ip, out var a) && a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork;

    internal static string Invariant(int value) => value.ToString(CultureInfo.InvariantCulture);
}
