using System.Net;
using System.Net.Sockets;
using System.Text;
using Tugboat.Network.Proxy;

namespace Tugboat.Network.Tests.Proxy;

/// <summary>
/// The userspace data path on loopback addresses (127.0.0.0/8 is local, so 127.0.0.x stand in for cluster IPs and
/// needs no root): balancing, affinity, refusal without endpoints, draining, retries, UDP replies and node ports.
/// </summary>
public sealed class UserspaceProxyTests : IDisposable
{
    private readonly List<IDisposable> _owned = [];

    public void Dispose()
    {
        foreach (var d in _owned)
        {
            d.Dispose();
        }
    }

    [Fact]
    public async Task RelaysEachConnectionToARandomEndpointWithHalfCloses()
    {
        var a = TcpBackend("a");
        var b = TcpBackend("b");
        var port = FreePort("127.0.0.2");
        using var proxy = new UserspaceProxy();
        proxy.Apply([Port("127.0.0.2", port, [a, b])]);
        var seen = new HashSet<string>();
        for (var i = 0; i < 40; i++)
        {
            var answer = await ExchangeAsync("127.0.0.2", port, $"hello {i}");
            Assert.EndsWith($":hello {i}", answer, StringComparison.Ordinal);
            seen.Add(answer.Split(':')[0]);
        }
        Assert.Equal(["a", "b"], seen.Order());
    }

    [Fact]
    public async Task ClientIpAffinityKeepsAClientOnItsEndpoint()
    {
        var a = TcpBackend("a");
        var b = TcpBackend("b");
        var port = FreePort("127.0.0.2");
        using var proxy = new UserspaceProxy();
        proxy.Apply([Port("127.0.0.2", port, [a, b]) with { AffinitySeconds = 60 }]);
        var seen = new HashSet<string>();
        for (var i = 0; i < 20; i++)
        {
            seen.Add((await ExchangeAsync("127.0.0.2", port, "x")).Split(':')[0]);
        }
        Assert.Single(seen);
    }

    [Fact]
    public async Task WithoutEndpointsConnectionsAreRefusedAndAcceptedOnesDrain()
    {
        var a = TcpBackend("a");
        var port = FreePort("127.0.0.2");
        using var proxy = new UserspaceProxy();
        proxy.Apply([Port("127.0.0.2", port, [])]);
        var refused = await Assert.ThrowsAsync<SocketException>(() => ExchangeAsync("127.0.0.2", port, "x"));
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);

        proxy.Apply([Port("127.0.0.2", port, [a])]);
        using var open = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await open.ConnectAsync(IPAddress.Parse("127.0.0.2"), port);
        await open.SendAsync(Encoding.ASCII.GetBytes("still here"));
        await Task.Delay(100);

        // The last endpoint goes: new connections are refused, the one already relayed finishes its exchange.
        proxy.Apply([Port("127.0.0.2", port, [])]);
        Assert.Empty(proxy.Listening);
        refused = await Assert.ThrowsAsync<SocketException>(() => ExchangeAsync("127.0.0.2", port, "x"));
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
        open.Shutdown(SocketShutdown.Send);
        Assert.Equal("a:still here", await ReadAllAsync(open));
    }

    [Fact]
    public async Task AnEndpointThatRefusesIsLeftOutForAnother()
    {
        var a = TcpBackend("a");
        var dead = new ProxyEndpoint("127.0.0.1", FreePort("127.0.0.1"), null);
        var port = FreePort("127.0.0.2");
        using var proxy = new UserspaceProxy();
        proxy.Apply([Port("127.0.0.2", port, [dead, a])]);
        for (var i = 0; i < 10; i++)
        {
            Assert.Equal("a:x", await ExchangeAsync("127.0.0.2", port, "x"));
        }
    }

    [Fact]
    public async Task UdpRepliesComeBackFromTheServedAddress()
    {
        var backend = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        _owned.Add(backend);
        backend.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _ = Task.Run(async () =>
        {
            var buffer = new byte[1024];
            while (true)
            {
                var r = await backend.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0));
                await backend.SendToAsync(Encoding.ASCII.GetBytes("echo " + Encoding.ASCII.GetString(buffer, 0, r.ReceivedBytes)), SocketFlags.None, r.RemoteEndPoint);
            }
        });
        var port = FreePort("127.0.0.3", SocketType.Dgram);
        using var proxy = new UserspaceProxy();
        proxy.Apply([Port("127.0.0.3", port, [new ProxyEndpoint("127.0.0.1", ((IPEndPoint)backend.LocalEndPoint!).Port, null)]) with { Protocol = "UDP" }]);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        client.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var served = new IPEndPoint(IPAddress.Parse("127.0.0.3"), port);
        for (var i = 0; i < 3; i++)
        {
            await client.SendToAsync(Encoding.ASCII.GetBytes($"q{i}"), SocketFlags.None, served);
            var buffer = new byte[1024];
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            var r = await client.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), timeout.Token);
            Assert.Equal(served, r.RemoteEndPoint);
            Assert.Equal($"echo q{i}", Encoding.ASCII.GetString(buffer, 0, r.ReceivedBytes));
        }
    }

    [Fact]
    public async Task NodePortsAnswerOnEveryAddressAndClusterIpsOnlyWhenServed()
    {
        var a = TcpBackend("a");
        var nodePort = FreePort("0.0.0.0");
        var clusterPort = FreePort("127.0.0.2");
        using var proxy = new UserspaceProxy { ServeClusterIps = false };
        proxy.Apply([Port("127.0.0.2", clusterPort, [a]) with { NodePort = nodePort }]);
        Assert.Equal("a:x", await ExchangeAsync("127.0.0.1", nodePort, "x"));
        Assert.Equal("a:y", await ExchangeAsync("127.0.0.5", nodePort, "y"));
        Assert.Equal([(IPAddress.Any, nodePort, "TCP")], proxy.Listening);
        await Assert.ThrowsAsync<SocketException>(() => ExchangeAsync("127.0.0.2", clusterPort, "x"));
    }

    [Fact]
    public async Task APortInUseIsReportedAndTheOthersServed()
    {
        var a = TcpBackend("a");
        using var taken = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        taken.Bind(new IPEndPoint(IPAddress.Parse("127.0.0.2"), 0));
        taken.Listen();
        var takenPort = ((IPEndPoint)taken.LocalEndPoint!).Port;
        var port = FreePort("127.0.0.2");
        var errors = new List<string>();
        using var proxy = new UserspaceProxy { OnError = errors.Add };
        proxy.Apply([Port("127.0.0.2", takenPort, [a]), Port("127.0.0.2", port, [a]), Port("127.0.0.2", port, [a]) with { Protocol = "SCTP" }]);
        Assert.Equal("a:x", await ExchangeAsync("127.0.0.2", port, "x"));
        Assert.Contains(errors, e => e.StartsWith($"cannot listen on 127.0.0.2:{takenPort}/TCP", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("relays TCP and UDP only", StringComparison.Ordinal));
        // Said once, not on every sync.
        proxy.Apply([Port("127.0.0.2", takenPort, [a]), Port("127.0.0.2", port, [a])]);
        Assert.Equal(2, errors.Count);
    }

    private static ProxyPort Port(string clusterIp, int port, IReadOnlyList<ProxyEndpoint> endpoints) => new()
    {
        Namespace = "default",
        Service = "web",
        PortName = string.Empty,
        Protocol = "TCP",
        Port = port,
        ClusterIps = [clusterIp],
        ClusterEndpoints = endpoints,
        ExternalEndpoints = endpoints,
    };

    private static int FreePort(string address, SocketType type = SocketType.Stream)
    {
        using var s = new Socket(AddressFamily.InterNetwork, type, type == SocketType.Stream ? ProtocolType.Tcp : ProtocolType.Udp);
        s.Bind(new IPEndPoint(IPAddress.Parse(address), 0));
        return ((IPEndPoint)s.LocalEndPoint!).Port;
    }

    /// <summary>A TCP server that reads until the client's half-close and answers "name:" + what it read.</summary>
    private ProxyEndpoint TcpBackend(string name)
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        _owned.Add(listener.Server);
        _ = Task.Run(async () =>
        {
            while (true)
            {
                var socket = await listener.AcceptSocketAsync();
                _ = Task.Run(async () =>
                {
                    using var _ = socket;
                    var text = await ReadAllAsync(socket);
                    await socket.SendAsync(Encoding.ASCII.GetBytes($"{name}:{text}"));
                    socket.Shutdown(SocketShutdown.Send);
                });
            }
        });
        return new ProxyEndpoint("127.0.0.1", ((IPEndPoint)listener.LocalEndpoint).Port, null);
    }

    private static async Task<string> ExchangeAsync(string address, int port, string text)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Parse(address), port);
        await socket.SendAsync(Encoding.ASCII.GetBytes(text));
        socket.Shutdown(SocketShutdown.Send);
        return await ReadAllAsync(socket);
    }

    private static async Task<string> ReadAllAsync(Socket socket)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var buffer = new byte[4096];
        var text = new StringBuilder();
        int read;
        while ((read = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token)) > 0)
        {
            text.Append(Encoding.ASCII.GetString(buffer, 0, read));
        }
        return text.ToString();
    }
}
