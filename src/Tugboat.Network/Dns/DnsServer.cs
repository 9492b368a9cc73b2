using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Tugboat.Network.Dns;

/// <summary>
/// The cluster DNS server (the CoreDNS role) on one address, over UDP and TCP: names of the cluster domain are
/// answered from <see cref="Zone"/>; other names are forwarded to the machine's resolvers (answers passed back as
/// they came). Malformed queries get FORMERR when their ID can be read and are dropped otherwise; UDP answers are
/// truncated (TC) to 512 bytes or the client's EDNS(0) size, so that the client retries over TCP.
/// </summary>
public sealed class DnsServer : IDisposable
{
    private readonly Socket _udp;
    private readonly TcpListener _tcp;
    private readonly IReadOnlyList<IPEndPoint> _upstreams;
    private volatile DnsZone _zone;

    /// <param name="listen">The address and port to serve on (both transports).</param>
    /// <param name="upstreams">Where names outside the cluster domain go; none means they fail with SERVFAIL.</param>
    public DnsServer(IPEndPoint listen, DnsZone zone, IReadOnlyList<IPEndPoint> upstreams)
    {
        _zone = zone;
        _upstreams = upstreams;
        // With port 0 the UDP port is picked by the system and TCP must take the same number, which a TCP socket may
        // already hold: pick again then (a fixed port is bound once, and a clash is the caller's error).
        for (var attempt = 0; ; attempt++)
        {
            _udp = new Socket(listen.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            _udp.Bind(listen);
            _tcp = new TcpListener(listen.Address, ((IPEndPoint)_udp.LocalEndPoint!).Port);
            _tcp.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            try
            {
                _tcp.Start(128);
                break;
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse && listen.Port == 0 && attempt < 20)
            {
                _tcp.Dispose();
                _udp.Dispose();
            }
        }
        Endpoint = (IPEndPoint)_udp.LocalEndPoint!;
    }

    /// <summary>Where the server answers (the port is the bound one when 0 was asked for).</summary>
    public IPEndPoint Endpoint { get; }

    /// <summary>The names served; replaced whole when services change.</summary>
    public DnsZone Zone
    {
        get => _zone;
        set => _zone = value;
    }

    /// <summary>Called with a description of what went wrong (for the owner's log); never throws into the server.</summary>
    public Action<string>? OnError { get; init; }

    /// <summary>How long a forwarded query waits for each upstream.</summary>
    public TimeSpan ForwardTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>The resolvers named in a resolv.conf file, on port 53, leaving out <paramref name="self"/>.</summary>
    public static List<IPEndPoint> Upstreams(string resolvConf, IPAddress? self)
    {
        if (!File.Exists(resolvConf))
        {
            return [];
        }
        return File.ReadAllLines(resolvConf)
            .Select(l => l.Trim().Split((char[])[' ', '\t'], StringSplitOptions.RemoveEmptyEntries))
            .Where(p => p.Length >= 2 && p[0] == "nameserver" && IPAddress.TryParse(p[1].Split('%')[0], out _))
            .Select(p => IPAddress.Parse(p[1].Split('%')[0]))
            .Where(a => !a.Equals(self))
            .Select(a => new IPEndPoint(a, 53)).ToList();
    }

    /// <summary>Serves until <paramref name="ct"/> is cancelled.</summary>
    public async Task RunAsync(CancellationToken ct)
    {
        using var registration = ct.Register(Dispose);
        var loops = Enumerable.Range(0, Math.Max(2, Environment.ProcessorCount)).Select(_ => Task.Run(() => UdpLoopAsync(ct), CancellationToken.None)).ToList();
        loops.Add(Task.Run(() => TcpLoopAsync(ct), CancellationToken.None));
        await Task.WhenAll(loops).ConfigureAwait(false);
    }

    private async Task UdpLoopAsync(CancellationToken ct)
    {
        var buffer = new byte[4096];
        var any = new IPEndPoint(Endpoint.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0);
        while (!ct.IsCancellationRequested)
        {
            SocketReceiveFromResult received;
            try
            {
                received = await _udp.ReceiveFromAsync(buffer, SocketFlags.None, any, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException || ct.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException)
            {
                // A previous reply's ICMP port unreachable surfaces here on Linux; the socket is fine.
                continue;
            }
            var query = buffer.AsSpan(0, received.ReceivedBytes);
            var reply = Answer(query, udp: true, out var forward);
            if (forward)
            {
                var copy = query.ToArray();
                var client = received.RemoteEndPoint;
                _ = Task.Run(async () =>
                {
                    var answer = await ForwardUdpAsync(copy, ct).ConfigureAwait(false);
                    await SendAsync(answer, client, ct).ConfigureAwait(false);
                }, CancellationToken.None);
                continue;
            }
            if (reply is not null)
            {
                await SendAsync(reply, received.RemoteEndPoint, ct).ConfigureAwait(false);
            }
        }
    }

    private async Task SendAsync(byte[]? reply, EndPoint client, CancellationToken ct)
    {
        if (reply is null)
        {
            return;
        }
        try
        {
            await _udp.SendToAsync(reply, SocketFlags.None, client, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
        {
        }
    }

    /// <summary>
    /// The reply to a query from the zone, FORMERR/NOTIMP for queries it cannot take, or null with
    /// <paramref name="forward"/> set for a name outside the cluster domain (and null for responses, which are dropped).
    /// </summary>
    public byte[]? Answer(ReadOnlySpan<byte> data, bool udp, out bool forward)
    {
        forward = false;
        DnsMessage query;
        try
        {
            query = DnsMessage.Parse(data);
        }
        catch (DnsFormatException)
        {
            return DnsMessage.FormatError(data);
        }
        if (query.IsResponse)
        {
            return null;
        }
        var max = udp ? Math.Max(512, (int)(query.EdnsPayload ?? 512)) : 65535;
        if (query.Opcode != 0)
        {
            return DnsMessage.Reply(query, DnsCode.NotImp, []).Encode(max);
        }
        if (query.Questions.Count != 1)
        {
            return DnsMessage.Reply(query, DnsCode.FormErr, []).Encode(max);
        }
        var zone = _zone;
        var question = query.Questions[0];
        if (!zone.IsAuthoritativeFor(question.Name))
        {
            forward = true;
            return null;
        }
        var (code, answers, additional) = zone.Resolve(question);
        // Negative answers (NXDOMAIN, or a name without records of the type) carry the zone's SOA, for negative caching.
        var authority = answers.Count == 0 && (question.Name == zone.Domain || question.Name.EndsWith("." + zone.Domain, StringComparison.Ordinal)) ? [zone.Soa] : Array.Empty<DnsRecord>();
        return DnsMessage.Reply(query, code, answers, additional, authority: authority).Encode(max);
    }

    /// <summary>The first upstream's answer over UDP; SERVFAIL when none answers.</summary>
    private Task<byte[]?> ForwardUdpAsync(byte[] query, CancellationToken ct) => ForwardAsync(query, "UDP", async (upstream, timeout) =>
    {
        using var socket = new Socket(upstream.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        await socket.ConnectAsync(upstream, timeout).ConfigureAwait(false);
        await socket.SendAsync(query, SocketFlags.None, timeout).ConfigureAwait(false);
        var buffer = new byte[4096];
        var n = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout).ConfigureAwait(false);
        return buffer[..n];
    }, ct);

    /// <summary>The first upstream's answer over TCP; SERVFAIL when none answers.</summary>
    private Task<byte[]?> ForwardTcpAsync(byte[] query, CancellationToken ct) => ForwardAsync(query, "TCP", async (upstream, timeout) =>
    {
        using var client = new TcpClient(upstream.AddressFamily);
        await client.ConnectAsync(upstream, timeout).ConfigureAwait(false);
        var stream = client.GetStream();
        await WriteFrameAsync(stream, query, timeout).ConfigureAwait(false);
        return await ReadFrameAsync(stream, timeout).ConfigureAwait(false);
    }, ct);

    /// <summary>Asks each upstream in turn, each within <see cref="ForwardTimeout"/>.</summary>
    private async Task<byte[]?> ForwardAsync(byte[] query, string transport, Func<IPEndPoint, CancellationToken, Task<byte[]?>> exchange, CancellationToken ct)
    {
        foreach (var upstream in _upstreams)
        {
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
                timeout.CancelAfter(ForwardTimeout);
                return await exchange(upstream, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is SocketException or IOException or OperationCanceledException && !ct.IsCancellationRequested)
            {
                OnError?.Invoke($"forwarding to {upstream} over {transport} failed: {e.Message}");
            }
        }
        return ServerFailure(query);
    }

    private static byte[]? ServerFailure(byte[] query)
    {
        try
        {
            return DnsMessage.Reply(DnsMessage.Parse(query), DnsCode.ServFail, [], authoritative: false).Encode(512);
        }
        catch (DnsFormatException)
        {
            return null;
        }
    }

    private async Task TcpLoopAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _tcp.AcceptTcpClientAsync(ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException || ct.IsCancellationRequested)
            {
                if (ct.IsCancellationRequested)
                {
                    return;
                }
                continue;
            }
            _ = Task.Run(() => ServeTcpAsync(client, ct), CancellationToken.None);
        }
    }

    /// <summary>Queries on one connection, each prefixed by its two-byte length (RFC 1035 4.2.2), until it closes or idles 10 s.</summary>
    private async Task ServeTcpAsync(TcpClient client, CancellationToken ct)
    {
        using (client)
        {
            var stream = client.GetStream();
            try
            {
                while (!ct.IsCancellationRequested)
                {
                    using var idle = CancellationTokenSource.CreateLinkedTokenSource(ct);
                    idle.CancelAfter(TimeSpan.FromSeconds(10));
                    var query = await ReadFrameAsync(stream, idle.Token).ConfigureAwait(false);
                    if (query is null)
                    {
                        return;
                    }
                    var reply = Answer(query, udp: false, out var forward);
                    if (forward)
                    {
                        reply = await ForwardTcpAsync(query, ct).ConfigureAwait(false);
                    }
                    if (reply is null)
                    {
                        return;
                    }
                    await WriteFrameAsync(stream, reply, ct).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (e is IOException or OperationCanceledException or SocketException or ObjectDisposedException)
            {
            }
        }
    }

    private static async Task<byte[]?> ReadFrameAsync(Stream stream, CancellationToken ct)
    {
        var header = new byte[2];
        if (await stream.ReadAtLeastAsync(header, 2, throwOnEndOfStream: false, ct).ConfigureAwait(false) < 2)
        {
            return null;
        }
        var frame = new byte[BinaryPrimitives.ReadUInt16BigEndian(header)];
        return await stream.ReadAtLeastAsync(frame, frame.Length, throwOnEndOfStream: false, ct).ConfigureAwait(false) < frame.Length ? null : frame;
    }

    private static async Task WriteFrameAsync(Stream stream, byte[] message, CancellationToken ct)
    {
        var frame = new byte[message.Length + 2];
        BinaryPrimitives.WriteUInt16BigEndian(frame, (ushort)message.Length);
        message.CopyTo(frame, 2);
        await stream.WriteAsync(frame, ct).ConfigureAwait(false);
    }

    public void Dispose()
    {
        _udp.Dispose();
        _tcp.Stop();
    }
}
