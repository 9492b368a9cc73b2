using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Tugboat.Network.Dns;

namespace Tugboat.Network.Tests.Dns;

/// <summary>The server over real sockets on the loopback address, with a stand-in upstream resolver.</summary>
public sealed class DnsServerTests : IAsyncLifetime
{
    private readonly CancellationTokenSource _stop = new();
    private DnsServer _server = null!;
    private DnsServer _upstream = null!;
    private Task _running = Task.CompletedTask;

    public Task InitializeAsync()
    {
        // Forty A records for one headless service: far more than fits in 512 bytes.
        var endpoints = new JsonArray(Enumerable.Range(1, 40).Select(i => (JsonNode)new JsonObject { ["addresses"] = new JsonArray($"10.42.0.{i}") }).ToArray());
        var zone = DnsZone.Build(
            [JsonNode.Parse("""{"metadata":{"namespace":"big","name":"many"},"spec":{"clusterIP":"None"}}""")!.AsObject()],
            [new JsonObject { ["metadata"] = new JsonObject { ["namespace"] = "big", ["labels"] = new JsonObject { ["kubernetes.io/service-name"] = "many" } }, ["endpoints"] = endpoints }],
            "cluster.local");
        // The upstream is another server whose zone is "upstream.test".
        _upstream = new DnsServer(new IPEndPoint(IPAddress.Loopback, 0), DnsZone.Build(
            [JsonNode.Parse("""{"metadata":{"namespace":"x","name":"y"},"spec":{"clusterIP":"10.0.0.1"}}""")!.AsObject()], [], "upstream.test"), []);
        _server = new DnsServer(new IPEndPoint(IPAddress.Loopback, 0), zone, [_upstream.Endpoint]);
        _running = Task.WhenAll(_server.RunAsync(_stop.Token), _upstream.RunAsync(_stop.Token));
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _stop.CancelAsync();
        await _running;
        _stop.Dispose();
    }

    private static async Task<byte[]> UdpAsync(IPEndPoint server, byte[] query)
    {
        using var udp = new UdpClient();
        udp.Connect(server);
        await udp.SendAsync(query);
        return (await udp.ReceiveAsync().WaitAsync(TimeSpan.FromSeconds(5))).Buffer;
    }

    private static byte[] Query(string name, DnsType type, ushort? edns = null) =>
        new DnsMessage { Id = 42, RecursionDesired = true, Questions = [new DnsQuestion(name, type)], EdnsPayload = edns }.Encode();

    [Fact]
    public async Task LargeAnswersAreTruncatedOverUdpAndCompleteOverTcp()
    {
        var udp = DnsMessage.Parse(await UdpAsync(_server.Endpoint, Query("many.big.svc.cluster.local", DnsType.A)));
        Assert.True(udp.Truncated);
        Assert.True(udp.Answers.Count < 40);
        var edns = DnsMessage.Parse(await UdpAsync(_server.Endpoint, Query("many.big.svc.cluster.local", DnsType.A, 4096)));
        Assert.False(edns.Truncated);
        Assert.Equal(40, edns.Answers.Count);

        using var tcp = new TcpClient();
        await tcp.ConnectAsync(_server.Endpoint);
        var stream = tcp.GetStream();
        // Two queries on one connection, as resolvers that retry over TCP send them.
        for (var i = 0; i < 2; i++)
        {
            var query = Query("many.big.svc.cluster.local", DnsType.A);
            await stream.WriteAsync(new[] { (byte)(query.Length >> 8), (byte)query.Length }.Concat(query).ToArray());
            var header = new byte[2];
            await stream.ReadExactlyAsync(header);
            var reply = new byte[(header[0] << 8) | header[1]];
            await stream.ReadExactlyAsync(reply);
            var parsed = DnsMessage.Parse(reply);
            Assert.False(parsed.Truncated);
            Assert.Equal(40, parsed.Answers.Count);
        }
    }

    [Fact]
    public async Task NegativeAnswersCarryTheZonesSoaAndTheDomainAnswersForIt()
    {
        var missing = DnsMessage.Parse(await UdpAsync(_server.Endpoint, Query("nothing.big.svc.cluster.local", DnsType.A)));
        Assert.Equal(DnsCode.NxDomain, missing.Code);
        var soa = Assert.Single(missing.Authority);
        Assert.Equal(("cluster.local", DnsType.Soa, 5u), (soa.Name, soa.Type, soa.Ttl));
        Assert.Matches(@"^ns\.dns\.cluster\.local hostmaster\.cluster\.local \d+ 7200 1800 86400 5$", soa.Data);
        // No data of the asked type: NOERROR, no answer, the SOA all the same.
        var noData = DnsMessage.Parse(await UdpAsync(_server.Endpoint, Query("many.big.svc.cluster.local", DnsType.Aaaa)));
        Assert.Equal((DnsCode.NoError, 0, 1), (noData.Code, noData.Answers.Count, noData.Authority.Count));
        var positive = DnsMessage.Parse(await UdpAsync(_upstream.Endpoint, Query("y.x.svc.upstream.test", DnsType.A)));
        Assert.Equal("10.0.0.1", Assert.Single(positive.Answers).Data);
        Assert.Empty(positive.Authority);
        var apex = DnsMessage.Parse(await UdpAsync(_server.Endpoint, Query("cluster.local", DnsType.Soa)));
        Assert.Equal(soa.Data, Assert.Single(apex.Answers).Data);
    }

    [Fact]
    public async Task OtherNamesAreForwardedUpstreamAndAnsweredAsItAnswered()
    {
        var reply = DnsMessage.Parse(await UdpAsync(_server.Endpoint, Query("y.x.svc.upstream.test", DnsType.A)));
        Assert.Equal(42, reply.Id);
        Assert.Equal("10.0.0.1", Assert.Single(reply.Answers).Data);
    }

    [Theory]
    [InlineData("")]
    [InlineData("12")]
    [InlineData("123401000001000000000000")]
    [InlineData("1234010000010000000000000377777700000100")]
    [InlineData("12340100000100000000000003777777c00c00010001")]
    public async Task MalformedQueriesGetFormErrOrNothingAndTheServerGoesOn(string hex)
    {
        using var udp = new UdpClient();
        udp.Connect(_server.Endpoint);
        await udp.SendAsync(Convert.FromHexString(hex));
        if (hex.Length >= 4)
        {
            var reply = (await udp.ReceiveAsync().WaitAsync(TimeSpan.FromSeconds(5))).Buffer;
            Assert.Equal(Convert.FromHexString(hex)[..2], reply[..2]);
            Assert.Equal((int)DnsCode.FormErr, reply[3] & 0x0f);
        }
        var answer = DnsMessage.Parse(await UdpAsync(_server.Endpoint, Query("10-1-2-3.ns.pod.cluster.local", DnsType.A)));
        Assert.Equal("10.1.2.3", Assert.Single(answer.Answers).Data);
    }

    [Fact]
    public async Task WithoutUpstreamsOtherNamesFailWithServFail()
    {
        using var lonely = new DnsServer(new IPEndPoint(IPAddress.Loopback, 0), DnsZone.Empty("cluster.local"), []);
        using var stop = new CancellationTokenSource();
        var running = lonely.RunAsync(stop.Token);
        var reply = DnsMessage.Parse(await UdpAsync(lonely.Endpoint, Query("example.org", DnsType.A)));
        Assert.Equal(DnsCode.ServFail, reply.Code);
        await stop.CancelAsync();
        await running;
    }
}
