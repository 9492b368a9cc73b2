namespace Tugboat.Client;

/// <summary>
/// Reads newline-delimited records (a watch stream's events) from a stream as UTF-8 bytes, for parsers that take bytes:
/// no decoding into strings and encoding back, no allocation per line.
/// </summary>
internal sealed class LineReader(Stream stream)
{
    private byte[] _buffer = new byte[16 * 1024];
    private int _start;
    private int _end;
    private bool _ended;

    /// <summary>The next line without its line ending, or null once the stream has ended; valid until the next call.</summary>
    public async ValueTask<ReadOnlyMemory<byte>?> ReadLineAsync(CancellationToken ct)
    {
        while (true)
        {
            var newline = _buffer.AsSpan(_start, _end - _start).IndexOf((byte)'\n');
            if (newline >= 0)
            {
                var line = _buffer.AsMemory(_start, newline);
                _start += newline + 1;
                return WithoutCarriageReturn(line);
            }
            if (_ended)
            {
                if (_start == _end)
                {
                    return null;
                }
                var last = _buffer.AsMemory(_start, _end - _start);
                _start = _end;
                return WithoutCarriageReturn(last);
            }
            if (_start > 0)
            {
                _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
                _end -= _start;
                _start = 0;
            }
            if (_end == _buffer.Length)
            {
                Array.Resize(ref _buffer, _buffer.Length * 2);
            }
            var read = await stream.ReadAsync(_buffer.AsMemory(_end), ct).ConfigureAwait(false);
            if (read == 0)
            {
                _ended = true;
            }
            _end += read;
        }
    }

    private static ReadOnlyMemory<byte> WithoutCarriageReturn(ReadOnlyMemory<byte> line) =>
        line.Length > 0 && line.Span[^1] == (byte)'\r' ? line[..^1] : line;
}
