using System.Text.Json.Nodes;
using Tugboat.Network.Dns;

namespace Tugboat.Network.Tests.Dns;

public sealed class DnsZoneTests
{
    private static readonly DnsZone Zone = DnsZone.Build(
        [
            Parse("""{"metadata":{"namespace":"shop","name":"web"},"spec":{"clusterIP":"10.43.0.20","clusterIPs":["10.43.0.20"],"ports":[{"name":"http","port":80},{"port":81}]}}"""),
            Parse("""{"metadata":{"namespace":"shop","name":"db"},"spec":{"clusterIP":"None","ports":[{"name":"pg","port":5432}]}}"""),
            Parse("""{"metadata":{"namespace":"shop","name":"alias"},"spec":{"type":"ExternalName","externalName":"web.shop.svc.cluster.local."}}"""),
            Parse("""{"metadata":{"namespace":"shop","name":"outside"},"spec":{"type":"ExternalName","externalName":"Example.ORG"}}"""),
        ],
        [
            Parse("""
                {"metadata":{"namespace":"shop","name":"db-1","labels":{"kubernetes.io/service-name":"db"}},
                 "endpoints":[{"addresses":["10.42.0.7"],"hostname":"db-0","conditions":{"ready":true}},
                              {"addresses":["10.42.0.8"],"conditions":{"ready":true}},
                              {"addresses":["10.42.0.9"],"conditions":{"ready":false}}],
                 "ports":[{"name":"pg","port":5432}]}
                """),
        ],
        "cluster.local");

    private static JsonObject Parse(string json) => JsonNode.Parse(json)!.AsObject();

    private static (DnsCode Code, List<DnsRecord> Answers, List<DnsRecord> Additional) Ask(string name, DnsType type) => Zone.Resolve(new DnsQuestion(name, type));

    [Fact]
    public void ServicesAnswerWithTheirClusterIpAndSrvForNamedPorts()
    {
        Assert.Equal(new DnsRecord("web.shop.svc.cluster.local", DnsType.A, 5, "10.43.0.20"), Assert.Single(Ask("web.shop.svc.cluster.local", DnsType.A).Answers));
        var srv = Ask("_http._tcp.web.shop.svc.cluster.local", DnsType.Srv);
        Assert.Equal("0 100 80 web.shop.svc.cluster.local", Assert.Single(srv.Answers).Data);
        Assert.Equal("10.43.0.20", Assert.Single(srv.Additional).Data);
        // The unnamed port has no SRV record; the service name lists the named ones.
        Assert.Single(Ask("web.shop.svc.cluster.local", DnsType.Srv).Answers);
        Assert.Equal("web.shop.svc.cluster.local", Assert.Single(Ask("20.0.43.10.in-addr.arpa", DnsType.Ptr).Answers).Data);
    }

    [Fact]
    public void HeadlessServicesAnswerWithReadyEndpointsUnderTheirOwnNames()
    {
        Assert.Equal(["10.42.0.7", "10.42.0.8"], Ask("db.shop.svc.cluster.local", DnsType.A).Answers.Select(a => a.Data).Order());
        Assert.Equal("10.42.0.7", Assert.Single(Ask("db-0.db.shop.svc.cluster.local", DnsType.A).Answers).Data);
        Assert.Equal("10.42.0.8", Assert.Single(Ask("10-42-0-8.db.shop.svc.cluster.local", DnsType.A).Answers).Data);
        Assert.Equal(DnsCode.NxDomain, Ask("10-42-0-9.db.shop.svc.cluster.local", DnsType.A).Code);
        var srv = Ask("_pg._tcp.db.shop.svc.cluster.local", DnsType.Srv).Answers.Select(a => a.Data).Order().ToList();
        Assert.Equal(["0 50 5432 10-42-0-8.db.shop.svc.cluster.local", "0 50 5432 db-0.db.shop.svc.cluster.local"], srv);
    }

    [Fact]
    public void ExternalNamesAreCnamesFollowedInsideTheZone()
    {
        var alias = Ask("alias.shop.svc.cluster.local", DnsType.A).Answers;
        Assert.Equal(2, alias.Count);
        Assert.Equal(new DnsRecord("alias.shop.svc.cluster.local", DnsType.Cname, 5, "web.shop.svc.cluster.local"), alias[0]);
        Assert.Equal("10.43.0.20", alias[1].Data);
        Assert.Equal("example.org", Assert.Single(Ask("outside.shop.svc.cluster.local", DnsType.A).Answers).Data);
    }

    [Theory]
    [InlineData("10-42-0-5.shop.pod.cluster.local", DnsType.A, DnsCode.NoError, 1)]
    [InlineData("10-42-0-5.shop.pod.cluster.local", DnsType.Aaaa, DnsCode.NoError, 0)]
    [InlineData("10-42-0-500.shop.pod.cluster.local", DnsType.A, DnsCode.NxDomain, 0)]
    [InlineData("web.shop.svc.cluster.local", DnsType.Aaaa, DnsCode.NoError, 0)]
    [InlineData("shop.svc.cluster.local", DnsType.A, DnsCode.NoError, 0)]
    [InlineData("svc.cluster.local", DnsType.A, DnsCode.NoError, 0)]
    [InlineData("cluster.local", DnsType.A, DnsCode.NoError, 0)]
    [InlineData("nothing.shop.svc.cluster.local", DnsType.A, DnsCode.NxDomain, 0)]
    [InlineData("web.other.svc.cluster.local", DnsType.A, DnsCode.NxDomain, 0)]
    [InlineData("_http._udp.web.shop.svc.cluster.local", DnsType.Srv, DnsCode.NxDomain, 0)]
    public void NamesThatDoNotExistAreNxDomainAndNamesWithoutThatTypeAreEmpty(string name, DnsType type, DnsCode code, int answers)
    {
        var result = Ask(name, type);
        Assert.Equal(code, result.Code);
        Assert.Equal(answers, result.Answers.Count);
    }

    [Fact]
    public void OnlyTheClusterDomainIsTheZones()
    {
        Assert.True(Zone.IsAuthoritativeFor("web.shop.svc.cluster.local"));
        Assert.True(Zone.IsAuthoritativeFor("cluster.local"));
        Assert.False(Zone.IsAuthoritativeFor("example.org"));
        Assert.False(Zone.IsAuthoritativeFor("notcluster.local"));
        Assert.False(Zone.IsAuthoritativeFor("1.0.0.127.in-addr.arpa"));
    }
}
