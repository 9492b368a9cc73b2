using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using System.Threading.Channels;

namespace Tugboat.Api.Streaming;

/// <summary>
/// A SPDY/3.1 connection as Kubernetes uses it for exec, attach and port-forward (Go's spdystream): one side opens
/// streams with SYN_STREAM and headers, both sides send DATA frames, FIN half-closes a stream. The API server is the
/// serving side for kubectl; the node agent is the opening side towards containerd's streaming server
/// (<see cref="ConnectAsync"/>, <see cref="OpenStreamAsync"/>). Header blocks are zlib-compressed with the SPDY
/// dictionary; ours are compressed without it (allowed by zlib).
/// </summary>
public sealed class SpdyConnection : IAsyncDisposable
{
    private const int MaxData = 16 * 1024;
    private readonly Stream _io;
    private readonly SemaphoreSlim _write = new(1, 1);
    private readonly Dictionary<uint, SpdyStream> _streams = [];
    private readonly Channel<SpdyStream> _opened = Channel.CreateUnbounded<SpdyStream>();
    private readonly HeaderInflater _inflater = new();
    private readonly MemoryStream _compressed = new();
    private readonly ZLibStream _deflater;

    public SpdyConnection(Stream io)
    {
        _io = io;
        _deflater = new ZLibStream(_compressed, CompressionLevel.Fastest, leaveOpen: true);
    }

    // The opening side numbers its streams with odd IDs.
    private uint _nextId = 1;

    /// <summary>
    /// Opens a SPDY connection to <paramref name="url"/> (http://HOST:PORT/PATH): an HTTP/1.1 upgrade to SPDY/3.1
    /// offering <paramref name="protocol"/>; throws with the server's answer when it refuses.
    /// </summary>
    public static async Task<SpdyConnection> ConnectAsync(Uri url, string protocol, CancellationToken ct)
    {
        var tcp = new System.Net.Sockets.TcpClient { NoDelay = true };
        try
        {
            await tcp.ConnectAsync(url.Host, url.Port, ct).ConfigureAwait(false);
            var io = tcp.GetStream();
            var request = $"POST {url.PathAndQuery} HTTP/1.1\r\nHost: {url.Authority}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: {protocol}\r\nContent-Length: 0\r\n\r\n";
            await io.WriteAsync(Encoding.ASCII.GetBytes(request), ct).ConfigureAwait(false);
            // The answer's head, byte by byte: nothing after it may be consumed (SPDY frames follow at once).
            var head = new StringBuilder();
            var one = new byte[1];
            while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
            {
                if (await io.ReadAsync(one, ct).ConfigureAwait(false) == 0 || head.Length > 16 * 1024)
                {
                    throw new IOException("the streaming server closed the connection during the upgrade");
                }
                head.Append((char)one[0]);
            }
            var status = head.ToString().Split("\r\n")[0];
            if (!status.Contains(" 101 ", StringComparison.Ordinal))
            {
                throw new IOException($"the streaming server refused the upgrade: {status}");
            }
            return new SpdyConnection(io, tcp);
        }
        catch
        {
            tcp.Dispose();
            throw;
        }
    }

    private readonly IDisposable? _owner;

    private SpdyConnection(Stream io, IDisposable owner)
        : this(io)
    {
        _owner = owner;
    }

    /// <summary>Opens a stream with <paramref name="headers"/> (e.g. streamtype: stdin).</summary>
    public async Task<SpdyStream> OpenStreamAsync(IReadOnlyList<KeyValuePair<string, string>> headers, CancellationToken ct)
    {
        uint id;
        SpdyStream stream;
        lock (_streams)
        {
            id = _nextId;
            _nextId += 2;
            stream = new SpdyStream(this, id, [.. headers]);
            _streams[id] = stream;
        }
        await SendControlAsync(1, 0, [.. Id(id), .. Id(0), 0, 0, .. Compress(headers)], ct).ConfigureAwait(false);
        return stream;
    }

    /// <summary>Streams the client opens, in order.</summary>
    public ChannelReader<SpdyStream> Opened => _opened.Reader;

    /// <summary>Reads frames until the client goes away; stream data is delivered to each stream's reader.</summary>
    public async Task RunAsync(CancellationToken ct)
    {
        var header = new byte[8];
        try
        {
            while (!ct.IsCancellationRequested)
            {
                await _io.ReadExactlyAsync(header, ct).ConfigureAwait(false);
                var length = (header[5] << 16) | (header[6] << 8) | header[7];
                var flags = header[4];
                var payload = new byte[length];
                await _io.ReadExactlyAsync(payload, ct).ConfigureAwait(false);
                if ((header[0] & 0x80) == 0)
                {
                    var id = BinaryPrimitives.ReadUInt32BigEndian(header) & 0x7fffffff;
                    await DataAsync(id, payload, (flags & 1) != 0, ct).ConfigureAwait(false);
                    continue;
                }
                var type = BinaryPrimitives.ReadUInt16BigEndian(header.AsSpan(2));
                switch (type)
                {
                    case 1: // SYN_STREAM
                        {
                            var id = BinaryPrimitives.ReadUInt32BigEndian(payload) & 0x7fffffff;
                            var headers = _inflater.Inflate(payload.AsSpan(10));
                            var stream = new SpdyStream(this, id, headers);
                            lock (_streams)
                            {
                                _streams[id] = stream;
                            }
                            await SendControlAsync(2, 0, [.. Id(id), .. Compress([])], ct).ConfigureAwait(false);
                            if ((flags & 1) != 0)
                            {
                                stream.Incoming.Writer.TryComplete();
                            }
                            await _opened.Writer.WriteAsync(stream, ct).ConfigureAwait(false);
                            break;
                        }
                    case 2: // SYN_REPLY: its header block still advances the shared zlib stream
                        _ = _inflater.Inflate(payload.AsSpan(4));
                        break;
                    case 3: // RST_STREAM
                        {
                            var id = BinaryPrimitives.ReadUInt32BigEndian(payload) & 0x7fffffff;
                            if (Find(id) is { } stream)
                            {
                                stream.Incoming.Writer.TryComplete();
                                stream.Reset = true;
                            }
                            break;
                        }
                    case 6: // PING: echoed
                        await SendControlAsync(6, 0, payload, ct).ConfigureAwait(false);
                        break;
                    case 7: // GOAWAY
                        return;
                    case 8: // HEADERS
                        _ = _inflater.Inflate(payload.AsSpan(4));
                        break;
                }
            }
        }
        catch (Exception e) when (e is EndOfStreamException or IOException or OperationCanceledException or ObjectDisposedException)
        {
        }
        finally
        {
            _opened.Writer.TryComplete();
            lock (_streams)
            {
                foreach (var s in _streams.Values)
                {
                    s.Incoming.Writer.TryComplete();
                }
            }
        }
    }

    private SpdyStream? Find(uint id)
    {
        lock (_streams)
        {
            return _streams.GetValueOrDefault(id);
        }
    }

    private async Task DataAsync(uint id, byte[] data, bool fin, CancellationToken ct)
    {
        if (Find(id) is not { } stream)
        {
            return;
        }
        if (data.Length > 0)
        {
            await stream.Incoming.Writer.WriteAsync(data, ct).ConfigureAwait(false);
            if (_owner is null)
            {
                // Serving kubectl: give the window back at once (the consumer applies its own back-pressure). Towards a
                // streaming server (Go's spdystream, which does not enforce windows) nothing is sent back: a frame
                // written after it closed would be answered with a reset that discards what it sent last.
                await SendControlAsync(9, 0, [.. Id(id), .. Id((uint)data.Length)], ct).ConfigureAwait(false);
                await SendControlAsync(9, 0, [.. Id(0), .. Id((uint)data.Length)], ct).ConfigureAwait(false);
            }
        }
        if (fin)
        {
            stream.Incoming.Writer.TryComplete();
        }
    }

    private static byte[] Id(uint id)
    {
        var b = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(b, id);
        return b;
    }

    /// <summary>A header block: pair count, then length-prefixed names and values, compressed on the connection's zlib stream.</summary>
    private byte[] Compress(IReadOnlyList<KeyValuePair<string, string>> headers)
    {
        var block = new MemoryStream();
        Span<byte> n = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(n, headers.Count);
        block.Write(n);
        foreach (var (k, v) in headers)
        {
            foreach (var s in new[] { k, v })
            {
                var bytes = Encoding.UTF8.GetBytes(s);
                BinaryPrimitives.WriteInt32BigEndian(n, bytes.Length);
                block.Write(n);
                block.Write(bytes);
            }
        }
        lock (_deflater)
        {
            _compressed.SetLength(0);
            _deflater.Write(block.ToArray());
            _deflater.Flush();
            return _compressed.ToArray();
        }
    }

    private async Task SendControlAsync(ushort type, byte flags, byte[] payload, CancellationToken ct)
    {
        var frame = new byte[8 + payload.Length];
        frame[0] = 0x80;
        frame[1] = 3;
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(2), type);
        frame[4] = flags;
        frame[5] = (byte)(payload.Length >> 16);
        frame[6] = (byte)(payload.Length >> 8);
        frame[7] = (byte)payload.Length;
        payload.CopyTo(frame, 8);
        await WriteAsync(frame, ct).ConfigureAwait(false);
    }

    internal async Task SendDataAsync(uint id, ReadOnlyMemory<byte> data, bool fin, CancellationToken ct)
    {
        do
        {
            var chunk = data[..Math.Min(MaxData, data.Length)];
            data = data[chunk.Length..];
            var frame = new byte[8 + chunk.Length];
            BinaryPrimitives.WriteUInt32BigEndian(frame, id & 0x7fffffff);
            frame[4] = (byte)(fin && data.IsEmpty ? 1 : 0);
            frame[5] = (byte)(chunk.Length >> 16);
            frame[6] = (byte)(chunk.Length >> 8);
            frame[7] = (byte)chunk.Length;
            chunk.CopyTo(frame.AsMemory(8));
            await WriteAsync(frame, ct).ConfigureAwait(false);
        }
        while (!data.IsEmpty);
    }

    /// <summary>Ends the session politely (GOAWAY, status OK).</summary>
    public async Task GoAwayAsync(CancellationToken ct)
    {
        uint last;
        lock (_streams)
        {
            last = _streams.Count == 0 ? 0 : _streams.Keys.Max();
        }
        try
        {
            await SendControlAsync(7, 0, [.. Id(last), .. Id(0)], ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException)
        {
        }
    }

    private async Task WriteAsync(byte[] frame, CancellationToken ct)
    {
        await _write.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            await _io.WriteAsync(frame, ct).ConfigureAwait(false);
            await _io.FlushAsync(ct).ConfigureAwait(false);
        }
        finally
        {
            _write.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _deflater.DisposeAsync().ConfigureAwait(false);
        _inflater.Dispose();
        _owner?.Dispose();
    }

    /// <summary>
    /// The client's header blocks: one zlib stream per connection whose first block names the SPDY dictionary. .NET's
    /// inflater takes no preset dictionary, so the dictionary is fed to a raw inflater first as a stored block and its
    /// output discarded; back-references into it then resolve as zlib's would.
    /// </summary>
    private sealed class HeaderInflater : IDisposable
    {
        private readonly Feed _feed = new();
        private readonly DeflateStream _inflate;
        private bool _started;

        public HeaderInflater()
        {
            _inflate = new DeflateStream(_feed, CompressionMode.Decompress);
        }

        public List<KeyValuePair<string, string>> Inflate(ReadOnlySpan<byte> block)
        {
            if (!_started)
            {
                _started = true;
                var dict = SpdyDictionary.Bytes;
                var stored = new byte[5 + dict.Length];
                stored[0] = 0; // not final, stored
                BinaryPrimitives.WriteUInt16LittleEndian(stored.AsSpan(1), (ushort)dict.Length);
                BinaryPrimitives.WriteUInt16LittleEndian(stored.AsSpan(3), (ushort)~dict.Length);
                dict.CopyTo(stored, 5);
                _feed.Add(stored);
                // The zlib header (2 bytes) and, with FDICT, the dictionary's Adler-32 (4 bytes) precede the deflate data.
                var skip = (block[1] & 0x20) != 0 ? 6 : 2;
                _feed.Add(block[skip..].ToArray());
                Drain(dict.Length);
            }
            else
            {
                _feed.Add(block.ToArray());
            }
            var data = Drain(int.MaxValue);
            var headers = new List<KeyValuePair<string, string>>();
            if (data.Length < 4)
            {
                return headers;
            }
            var count = BinaryPrimitives.ReadInt32BigEndian(data);
            var at = 4;
            for (var i = 0; i < count && at + 4 <= data.Length; i++)
            {
                var kl = BinaryPrimitives.ReadInt32BigEndian(data.AsSpan(at));
                var key = Encoding.UTF8.GetString(data, at + 4, kl);
                at += 4 + kl;
                var vl = BinaryPrimitives.ReadInt32BigEndian(data.AsSpan(at));
                var value = Encoding.UTF8.GetString(data, at + 4, vl);
                at += 4 + vl;
                foreach (var v in value.Split('\0'))
                {
                    headers.Add(KeyValuePair.Create(key.ToLowerInvariant(), v));
                }
            }
            return headers;
        }

        /// <summary>Reads up to <paramref name="max"/> bytes of output (everything the fed input yields).</summary>
        private byte[] Drain(int max)
        {
            var output = new MemoryStream();
            var buffer = new byte[8192];
            while (output.Length < max)
            {
                var n = _inflate.Read(buffer, 0, (int)Math.Min(buffer.Length, max - output.Length));
                if (n == 0)
                {
                    break;
                }
                output.Write(buffer, 0, n);
            }
            return output.ToArray();
        }

        public void Dispose() => _inflate.Dispose();

        /// <summary>A stream that hands out what was added and reports "nothing yet" (0) when empty, without ending.</summary>
        private sealed class Feed : Stream
        {
            private readonly Queue<byte[]> _chunks = new();
            private int _offset;

            public void Add(byte[] chunk) => _chunks.Enqueue(chunk);

            public override int Read(byte[] buffer, int offset, int count)
            {
                while (_chunks.Count > 0 && _offset >= _chunks.Peek().Length)
                {
                    _chunks.Dequeue();
                    _offset = 0;
                }
                if (_chunks.Count == 0)
                {
                    return 0;
                }
                var chunk = _chunks.Peek();
                var n = Math.Min(count, chunk.Length - _offset);
                Array.Copy(chunk, _offset, buffer, offset, n);
                _offset += n;
                return n;
            }

            public override bool CanRead => true;
            public override bool CanSeek => false;
            public override bool CanWrite => false;
            public override long Length => throw new NotSupportedException();
            public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
            public override void Flush() { }
            public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
            public override void SetLength(long value) => throw new NotSupportedException();
            public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        }
    }
}

/// <summary>One stream of a <see cref="SpdyConnection"/>: its headers, what the client sends on it, and sending back.</summary>
public sealed class SpdyStream(SpdyConnection connection, uint id, List<KeyValuePair<string, string>> headers)
{
    public uint Id { get; } = id;

    public IReadOnlyList<KeyValuePair<string, string>> Headers { get; } = headers;

    public string? Header(string name) => Headers.FirstOrDefault(h => h.Key == name).Value;

    /// <summary>DATA the client sent; completes when the client half-closes (FIN) or resets the stream.</summary>
    public Channel<byte[]> Incoming { get; } = Channel.CreateUnbounded<byte[]>();

    public bool Reset { get; set; }

    public Task WriteAsync(ReadOnlyMemory<byte> data, CancellationToken ct) => connection.SendDataAsync(Id, data, fin: false, ct);

    /// <summary>Half-closes our side (an empty DATA frame with FIN).</summary>
    public Task CloseAsync(CancellationToken ct) => connection.SendDataAsync(Id, ReadOnlyMemory<byte>.Empty, fin: true, ct);
}
