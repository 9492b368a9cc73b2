using System.Text.Json.Nodes;
using Tugboat.Agent.Kubelet;

namespace Tugboat.Agent.Tests.Kubelet;

public sealed class ServiceEnvironmentTests
{
    private static readonly JsonObject[] Services =
    [
        JsonNode.Parse("""{"metadata":{"namespace":"default","name":"kubernetes"},"spec":{"clusterIP":"10.43.0.1","ports":[{"name":"https","port":443,"protocol":"TCP"}]}}""")!.AsObject(),
        JsonNode.Parse("""{"metadata":{"namespace":"shop","name":"web-front"},"spec":{"clusterIP":"10.43.0.20","ports":[{"name":"http","port":80},{"name":"dns-udp","port":53,"protocol":"UDP"}]}}""")!.AsObject(),
        JsonNode.Parse("""{"metadata":{"namespace":"shop","name":"db"},"spec":{"clusterIP":"None","ports":[{"port":5432}]}}""")!.AsObject(),
        JsonNode.Parse("""{"metadata":{"namespace":"shop","name":"alias"},"spec":{"type":"ExternalName","externalName":"example.org"}}""")!.AsObject(),
        JsonNode.Parse("""{"metadata":{"namespace":"other","name":"elsewhere"},"spec":{"clusterIP":"10.43.0.30","ports":[{"port":80}]}}""")!.AsObject(),
    ];

    [Fact]
    public void ServicesOfTheNamespaceAndTheApiGetUpstreamsVariables()
    {
        var env = ServiceEnvironment.For(Services, "shop", serviceLinks: true).ToDictionary(e => e.Key, e => e.Value);
        Assert.Equal("10.43.0.20", env["WEB_FRONT_SERVICE_HOST"]);
        Assert.Equal("80", env["WEB_FRONT_SERVICE_PORT"]);
        Assert.Equal("80", env["WEB_FRONT_SERVICE_PORT_HTTP"]);
        Assert.Equal("53", env["WEB_FRONT_SERVICE_PORT_DNS_UDP"]);
        Assert.Equal("tcp://10.43.0.20:80", env["WEB_FRONT_PORT"]);
        Assert.Equal("tcp://10.43.0.20:80", env["WEB_FRONT_PORT_80_TCP"]);
        Assert.Equal("tcp", env["WEB_FRONT_PORT_80_TCP_PROTO"]);
        Assert.Equal("80", env["WEB_FRONT_PORT_80_TCP_PORT"]);
        Assert.Equal("10.43.0.20", env["WEB_FRONT_PORT_80_TCP_ADDR"]);
        Assert.Equal("udp://10.43.0.20:53", env["WEB_FRONT_PORT_53_UDP"]);
        Assert.Equal("10.43.0.1", env["KUBERNETES_SERVICE_HOST"]);
        Assert.Equal("443", env["KUBERNETES_SERVICE_PORT_HTTPS"]);
        Assert.DoesNotContain(env.Keys, k => k.StartsWith("DB_", StringComparison.Ordinal) || k.StartsWith("ALIAS_", StringComparison.Ordinal) || k.StartsWith("ELSEWHERE_", StringComparison.Ordinal));
    }

    [Fact]
    public void WithoutServiceLinksOnlyTheApiServiceIsGiven()
    {
        var env = ServiceEnvironment.For(Services, "shop", serviceLinks: false);
        Assert.All(env, e => Assert.StartsWith("KUBERNETES_", e.Key, StringComparison.Ordinal));
        Assert.Contains(env, e => e.Key == "KUBERNETES_PORT" && e.Value == "tcp://10.43.0.1:443");
    }
}
