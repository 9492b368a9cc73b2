using System.Text.Json.Nodes;
using Tugboat.Network.Proxy;

namespace Tugboat.Network.Tests.Proxy;

/// <summary>Endpoint selection: which backends each kind of traffic to a service port goes to.</summary>
public sealed class ServiceTableTests
{
    private static JsonObject Service(string name, string spec, string? status = null) =>
        JsonNode.Parse($$"""{"metadata":{"namespace":"default","name":"{{name}}"},"spec":{{spec}}{{(status is null ? "" : ",\"status\":" + status)}}}""")!.AsObject();

    private static JsonObject Slice(string service, string ports, params (string Ip, string Node, bool? Ready, bool? Serving)[] endpoints)
    {
        var eps = new JsonArray();
        foreach (var (ip, node, ready, serving) in endpoints)
        {
            var conditions = new JsonObject();
            if (ready is { } r)
            {
                conditions["ready"] = r;
            }
            if (serving is { } s)
            {
                conditions["serving"] = s;
                conditions["terminating"] = ready != true;
            }
            eps.Add(new JsonObject { ["addresses"] = new JsonArray(ip), ["nodeName"] = node, ["conditions"] = conditions });
        }
        return new JsonObject
        {
            ["metadata"] = new JsonObject { ["namespace"] = "default", ["name"] = service + "-x", ["labels"] = new JsonObject { [ServiceTable.ServiceNameLabel] = service } },
            ["addressType"] = "IPv4",
            ["endpoints"] = eps,
            ["ports"] = JsonNode.Parse(ports),
        };
    }

    public static TheoryData<string, string, string[], string[]> Policies => new()
    {
        // internalTrafficPolicy, externalTrafficPolicy, cluster endpoints, external endpoints (this node is "a").
        { "Cluster", "Cluster", ["10.42.0.2", "10.42.1.2"], ["10.42.0.2", "10.42.1.2"] },
        { "Local", "Cluster", ["10.42.0.2"], ["10.42.0.2", "10.42.1.2"] },
        { "Cluster", "Local", ["10.42.0.2", "10.42.1.2"], ["10.42.0.2"] },
    };

    [Theory]
    [MemberData(nameof(Policies))]
    public void TrafficPoliciesKeepLocalEndpointsForTheirKindOfTraffic(string internalPolicy, string externalPolicy, string[] cluster, string[] external)
    {
        var svc = Service("web", $$"""{"type":"NodePort","clusterIP":"10.43.0.5","internalTrafficPolicy":"{{internalPolicy}}","externalTrafficPolicy":"{{externalPolicy}}","ports":[{"port":80,"nodePort":30080,"protocol":"TCP"}]}""");
        var slice = Slice("web", """[{"port":8080,"protocol":"TCP"}]""", ("10.42.1.2", "b", true, null), ("10.42.0.2", "a", true, null));
        var port = Assert.Single(ServiceTable.Build([svc], [slice], "a"));
        Assert.Equal(cluster, port.ClusterEndpoints.Select(e => e.Ip));
        Assert.Equal(external, port.ExternalEndpoints.Select(e => e.Ip));
        Assert.Equal(30080, port.NodePort);
        Assert.All(port.ClusterEndpoints, e => Assert.Equal(8080, e.Port));
    }

    [Fact]
    public void OnlyReadyEndpointsServeAndTerminatingOnesOnlyWhenNothingIsReady()
    {
        var svc = Service("web", """{"clusterIP":"10.43.0.5","ports":[{"port":80}]}""");
        var mixed = Slice("web", """[{"port":8080}]""", ("10.42.0.2", "a", true, true), ("10.42.0.3", "a", false, false), ("10.42.0.4", "a", false, true));
        Assert.Equal(["10.42.0.2"], Assert.Single(ServiceTable.Build([svc], [mixed], "a")).ClusterEndpoints.Select(e => e.Ip));
        var draining = Slice("web", """[{"port":8080}]""", ("10.42.0.3", "a", false, false), ("10.42.0.4", "a", false, true));
        Assert.Equal(["10.42.0.4"], Assert.Single(ServiceTable.Build([svc], [draining], "a")).ClusterEndpoints.Select(e => e.Ip));
        var none = Slice("web", """[{"port":8080}]""", ("10.42.0.3", "a", false, false));
        Assert.Empty(Assert.Single(ServiceTable.Build([svc], [none], "a")).ClusterEndpoints);
        // Host-network pods share the node's address: the address serves while one of them is ready, whatever the order.
        var shared = Slice("web", """[{"port":8080}]""", ("192.0.2.2", "a", false, false), ("192.0.2.2", "a", true, true));
        Assert.Equal(["192.0.2.2"], Assert.Single(ServiceTable.Build([svc], [shared], "a")).ClusterEndpoints.Select(e => e.Ip));
    }

    [Fact]
    public void HostPortsOfRunningPodsAreServedLikeNodePorts()
    {
        var pod = JsonNode.Parse("""{"metadata":{"namespace":"default","name":"web"},"spec":{"containers":[{"name":"c","ports":[{"containerPort":8080,"hostPort":18080},{"containerPort":53,"hostPort":1053,"protocol":"UDP","hostIP":"127.0.0.1"},{"containerPort":9090}]}]}}""")!.AsObject();
        var other = JsonNode.Parse("""{"metadata":{"namespace":"default","name":"late"},"spec":{"containers":[{"name":"c","ports":[{"containerPort":80,"hostPort":18080},{"containerPort":81,"hostPort":30080}]}]}}""")!.AsObject();
        var hostNetwork = JsonNode.Parse("""{"metadata":{"namespace":"default","name":"host"},"spec":{"hostNetwork":true,"containers":[{"name":"c","ports":[{"containerPort":7070,"hostPort":7070}]}]}}""")!.AsObject();
        var nodePort = new ProxyPort { Namespace = "default", Service = "svc", PortName = "", Protocol = "TCP", Port = 80, NodePort = 30080 };
        var ports = ServiceTable.HostPorts([(pod, "10.42.0.5"), (other, "10.42.0.6"), (hostNetwork, "192.0.2.2")], [nodePort], "a");
        Assert.Equal(2, ports.Count);
        var tcp = ports.Single(p => p.Protocol == "TCP");
        Assert.Equal((18080, 0), (tcp.NodePort, tcp.ClusterIps.Count));
        Assert.Equal(new ProxyEndpoint("10.42.0.5", 8080, "a"), Assert.Single(tcp.ExternalEndpoints));
        var udp = ports.Single(p => p.Protocol == "UDP");
        Assert.Equal((0, 1053, "127.0.0.1"), (udp.NodePort, udp.Port, Assert.Single(udp.ExternalIps)));
        Assert.Equal(new ProxyEndpoint("10.42.0.5", 53, "a"), Assert.Single(udp.ExternalEndpoints));
    }

    [Fact]
    public void PortsMatchSlicePortsByNameAndProtocol()
    {
        var svc = Service("dns", """{"clusterIP":"10.43.0.5","ports":[{"name":"dns","port":53,"protocol":"UDP"},{"name":"dns-tcp","port":53,"protocol":"TCP"},{"name":"metrics","port":9153}]}""");
        var slice = Slice("dns", """[{"name":"dns","port":5353,"protocol":"UDP"},{"name":"dns-tcp","port":5354,"protocol":"TCP"}]""", ("10.42.0.2", "a", true, null));
        var ports = ServiceTable.Build([svc], [slice], "a");
        Assert.Equal(3, ports.Count);
        Assert.Equal(5353, Assert.Single(ports.Single(p => p.PortName == "dns").ClusterEndpoints).Port);
        Assert.Equal(5354, Assert.Single(ports.Single(p => p.PortName == "dns-tcp").ClusterEndpoints).Port);
        Assert.Equal("UDP", ports.Single(p => p.PortName == "dns").Protocol);
        Assert.Empty(ports.Single(p => p.PortName == "metrics").ClusterEndpoints);
    }

    [Fact]
    public void HeadlessAndExternalNameServicesAreNotProxiedAndEndpointsAcrossSlicesAreMerged()
    {
        var services = new[]
        {
            Service("headless", """{"clusterIP":"None","ports":[{"port":80}]}"""),
            Service("alias", """{"type":"ExternalName","externalName":"example.org"}"""),
            Service("web", """{"type":"LoadBalancer","clusterIP":"10.43.0.5","externalIPs":["192.0.2.10"],"sessionAffinity":"ClientIP","ports":[{"port":80,"nodePort":30001}]}""", """{"loadBalancer":{"ingress":[{"ip":"127.0.0.1"}]}}"""),
        };
        var slices = new[]
        {
            Slice("web", """[{"port":8080}]""", ("10.42.0.3", "a", true, null), ("10.42.0.2", "a", null, null)),
            Slice("web", """[{"port":8080}]""", ("10.42.0.2", "a", true, null)),
            Slice("headless", """[{"port":80}]""", ("10.42.0.9", "a", true, null)),
        };
        var port = Assert.Single(ServiceTable.Build(services, slices, "a"));
        Assert.Equal("web", port.Service);
        Assert.Equal(["10.42.0.2", "10.42.0.3"], port.ClusterEndpoints.Select(e => e.Ip));
        Assert.Equal(["192.0.2.10", "127.0.0.1"], port.ExternalIps);
        Assert.Equal(10800, port.AffinitySeconds);
    }
}
