using System.Text;
using System.Text.Json.Nodes;

namespace Tugboat.Client.Tests;

public sealed class LineReaderTests
{
    /// <summary>A stream that hands out at most a few bytes per read, as a network stream may.</summary>
    private sealed class Trickle(byte[] data, int chunk) : MemoryStream(data)
    {
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            base.ReadAsync(buffer[..Math.Min(chunk, buffer.Length)], cancellationToken);
    }

    private static async Task<List<string>> ReadAll(string text, int chunk)
    {
        var reader = new LineReader(new Trickle(Encoding.UTF8.GetBytes(text), chunk));
        var lines = new List<string>();
        while (await reader.ReadLineAsync(CancellationToken.None) is { } line)
        {
            lines.Add(Encoding.UTF8.GetString(line.Span));
        }
        return lines;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(100_000)]
    public async Task Lines_come_back_whole_whatever_the_reads_deliver(int chunk)
    {
        var long1 = new string('x', 40_000);
        var lines = await ReadAll($"first\r\n\nsecond ünïcode\n{long1}\nlast without newline", chunk);
        Assert.Equal(["first", "", "second ünïcode", long1, "last without newline"], lines);
    }

    [Fact]
    public async Task An_empty_stream_has_no_lines()
    {
        Assert.Empty(await ReadAll("", 10));
        Assert.Equal([""], await ReadAll("\n", 10));
    }

    [Fact]
    public async Task Objects_read_from_a_line_stay_intact_after_the_buffer_is_reused()
    {
        var text = """{"type":"ADDED","object":{"metadata":{"name":"a","managedFields":[{"manager":"m"}]}}}""" + "\n"
            + """{"type":"MODIFIED","object":{"metadata":{"name":"bbbbbbbbbbbbbbbbbbbbbbbbbbbb"}}}""" + "\n";
        var reader = new LineReader(new Trickle(Encoding.UTF8.GetBytes(text), 5));
        var first = CachedJson.WatchEvent((await reader.ReadLineAsync(CancellationToken.None))!.Value.Span);
        var second = CachedJson.WatchEvent((await reader.ReadLineAsync(CancellationToken.None))!.Value.Span);
        Assert.Null(await reader.ReadLineAsync(CancellationToken.None));
        Assert.Equal("""{"metadata":{"name":"a"}}""", first.Object.ToJsonString());
        Assert.Equal("bbbbbbbbbbbbbbbbbbbbbbbbbbbb", second.Object["metadata"]!["name"]!.GetValue<string>());
        Assert.Equal("ADDED", first.Type);
        Assert.IsType<JsonObject>(second.Object);
    }
}
