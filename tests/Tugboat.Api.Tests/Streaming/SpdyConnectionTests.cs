using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Tugboat.Api.Streaming;

namespace Tugboat.Api.Tests.Streaming;

public sealed class SpdyConnectionTests
{
    // Header blocks as a zlib client with the SPDY dictionary writes them (Python's zlib with zdict, sync-flushed):
    // {streamtype: error, port: 8080, requestid: 0}, then {streamtype: data, port: 8080, requestid: 0}.
    private static readonly byte[] First = Convert.FromHexString("78bbe3c6a7c202253a703a2b294a4dcc851625aca9a0808614cb45e01c6061606100a4398b20d198094ade8c0600000000ffff");
    private static readonly byte[] Second = Convert.FromHexString("c2aa19540e2512d60b000000ffff");

    [Fact]
    public void TheDictionaryIsSpdy3s()
    {
        Assert.Equal(1423, SpdyDictionary.Bytes.Length);
        // The dictionary ID that SPDY/3 clients put in their zlib header (78 bb e3 c6 a7 c2).
        uint a = 1, b = 0;
        foreach (var x in SpdyDictionary.Bytes)
        {
            a = (a + x) % 65521;
            b = (b + a) % 65521;
        }
        Assert.Equal(0xe3c6a7c2u, (b << 16) | a);
    }

    [Fact]
    public async Task StreamsOpenWithTheirHeadersAndCarryDataBothWays()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)listener.LocalEndpoint).Port);
        using var accepted = await listener.AcceptTcpClientAsync();
        await using var connection = new SpdyConnection(accepted.GetStream());
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var running = connection.RunAsync(cts.Token);
        var wire = client.GetStream();

        await wire.WriteAsync(SynStream(1, First));
        await wire.WriteAsync(SynStream(3, Second));
        var error = await connection.Opened.ReadAsync(cts.Token);
        var data = await connection.Opened.ReadAsync(cts.Token);
        Assert.Equal(("error", "8080", "0"), (error.Header("streamtype"), error.Header("port"), error.Header("requestid")));
        Assert.Equal(("data", 3u), (data.Header("streamtype"), data.Id));

        // Each SYN_STREAM is answered by a SYN_REPLY for its stream.
        var reply = await ReadFrameAsync(wire, cts.Token);
        Assert.Equal((0x8003, 2, 1u), (BinaryPrimitives.ReadUInt16BigEndian(reply), BinaryPrimitives.ReadUInt16BigEndian(reply.AsSpan(2)), BinaryPrimitives.ReadUInt32BigEndian(reply.AsSpan(8))));
        await ReadFrameAsync(wire, cts.Token);

        // Client data with FIN arrives on the stream and completes it; server data goes out as DATA frames.
        await wire.WriteAsync(DataFrame(3, "ping"u8.ToArray(), fin: true));
        var received = await data.Incoming.Reader.ReadAsync(cts.Token);
        Assert.Equal("ping"u8.ToArray(), received);
        await data.Incoming.Reader.Completion.WaitAsync(cts.Token);
        await data.WriteAsync("pong"u8.ToArray(), cts.Token);
        await data.CloseAsync(cts.Token);
        byte[] frame;
        do
        {
            frame = await ReadFrameAsync(wire, cts.Token);
        }
        while ((frame[0] & 0x80) != 0);
        Assert.Equal(3u, BinaryPrimitives.ReadUInt32BigEndian(frame));
        Assert.Equal("pong"u8.ToArray(), frame[8..]);
        var fin = await ReadFrameAsync(wire, cts.Token);
        Assert.Equal((3u, 1), (BinaryPrimitives.ReadUInt32BigEndian(fin), (int)fin[4]));

        client.Close();
        await running;
        Assert.True(connection.Opened.Completion.IsCompleted);
    }

    private static byte[] SynStream(uint id, byte[] headers)
    {
        var payload = new byte[10 + headers.Length];
        BinaryPrimitives.WriteUInt32BigEndian(payload, id);
        headers.CopyTo(payload, 10);
        return Control(1, payload);
    }

    private static byte[] Control(ushort type, byte[] payload)
    {
        var frame = new byte[8 + payload.Length];
        frame[0] = 0x80;
        frame[1] = 3;
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(2), type);
        frame[5] = (byte)(payload.Length >> 16);
        frame[6] = (byte)(payload.Length >> 8);
        frame[7] = (byte)payload.Length;
        payload.CopyTo(frame, 8);
        return frame;
    }

    private static byte[] DataFrame(uint id, byte[] data, bool fin)
    {
        var frame = new byte[8 + data.Length];
        BinaryPrimitives.WriteUInt32BigEndian(frame, id);
        frame[4] = (byte)(fin ? 1 : 0);
        frame[7] = (byte)data.Length;
        data.CopyTo(frame, 8);
        return frame;
    }

    /// <summary>The next frame that is not a WINDOW_UPDATE.</summary>
    private static async Task<byte[]> ReadFrameAsync(Stream wire, CancellationToken ct)
    {
        while (true)
        {
            var header = new byte[8];
            await wire.ReadExactlyAsync(header, ct);
            var length = (header[5] << 16) | (header[6] << 8) | header[7];
            var frame = new byte[8 + length];
            header.CopyTo(frame, 0);
            await wire.ReadExactlyAsync(frame.AsMemory(8), ct);
            if ((frame[0] & 0x80) != 0 && BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(2)) == 9)
            {
                continue;
            }
            return frame;
        }
    }
}
