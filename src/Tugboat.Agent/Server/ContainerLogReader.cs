using System.Globalization;
using System.Text;

namespace Tugboat.Agent.Server;

/// <summary>The options of a log request, as the kubelet's PodLogOptions.</summary>
internal sealed record LogOptions(bool Follow, long? TailLines, DateTimeOffset? Since, bool Timestamps, long? LimitBytes);

/// <summary>Reads a CRI log file back as the text the container wrote (partial lines joined), filtered as asked.</summary>
internal static class ContainerLogReader
{
    private readonly record struct Line(DateTimeOffset Time, string Timestamp, byte[] Content, bool Partial);

    private static Line? Parse(ReadOnlySpan<byte> raw)
    {
        // "2016-10-06T00:17:09.669794202Z stdout F text"
        var first = raw.IndexOf((byte)' ');
        if (first < 0)
        {
            return null;
        }
        var rest = raw[(first + 1)..];
        var second = rest.IndexOf((byte)' ');
        if (second < 0 || rest.Length < second + 2)
        {
            return null;
        }
        var tag = rest[second + 1];
        var content = rest.Length > second + 3 ? rest[(second + 3)..].ToArray() : [];
        var stamp = Encoding.ASCII.GetString(raw[..first]);
        var time = DateTimeOffset.TryParse(stamp, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t) ? t : DateTimeOffset.MinValue;
        return new Line(time, stamp, content, tag == (byte)'P');
    }

    /// <summary>
    /// Writes the log to <paramref name="output"/>; with follow, keeps reading new lines until <paramref name="running"/>
    /// says the container stopped and the file is drained, or the request ends.
    /// </summary>
    public static async Task CopyAsync(string path, LogOptions options, Stream output, Func<bool> running, CancellationToken ct)
    {
        long written = 0;
        var pending = new List<byte>();
        string? pendingStamp = null;
        var lines = new List<byte[]>();

        bool Emit(Line line)
        {
            if (options.Since is { } since && line.Time < since)
            {
                return true;
            }
            pendingStamp ??= line.Timestamp;
            pending.AddRange(line.Content);
            if (line.Partial)
            {
                return true;
            }
            var text = new List<byte>();
            if (options.Timestamps)
            {
                text.AddRange(Encoding.ASCII.GetBytes(pendingStamp + " "));
            }
            text.AddRange(pending);
            text.Add((byte)'\n');
            lines.Add([.. text]);
            pending.Clear();
            pendingStamp = null;
            return true;
        }

        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 64 * 1024, useAsync: false);
        var reader = new LineSplitter();
        var buffer = new byte[64 * 1024];
        var tailApplied = false;
        while (true)
        {
            int n;
            while ((n = await file.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
            {
                foreach (var raw in reader.Push(buffer.AsSpan(0, n)))
                {
                    if (Parse(raw) is { } line)
                    {
                        Emit(line);
                    }
                }
                if (tailApplied)
                {
                    if (!await FlushAsync().ConfigureAwait(false))
                    {
                        return;
                    }
                }
            }
            if (!tailApplied)
            {
                if (options.TailLines is { } tail && lines.Count > tail)
                {
                    lines.RemoveRange(0, lines.Count - (int)Math.Max(0, tail));
                }
                tailApplied = true;
                if (!await FlushAsync().ConfigureAwait(false))
                {
                    return;
                }
            }
            if (!options.Follow)
            {
                return;
            }
            if (!running())
            {
                // One more pass picks up what was written just before the container stopped.
                if (file.Position >= file.Length)
                {
                    return;
                }
                continue;
            }
            await Task.Delay(100, ct).ConfigureAwait(false);
        }

        async Task<bool> FlushAsync()
        {
            foreach (var text in lines)
            {
                var bytes = text.AsMemory();
                if (options.LimitBytes is { } limit && written + bytes.Length > limit)
                {
                    bytes = bytes[..(int)Math.Max(0, limit - written)];
                }
                await output.WriteAsync(bytes, ct).ConfigureAwait(false);
                written += bytes.Length;
                if (options.LimitBytes is { } max && written >= max)
                {
                    lines.Clear();
                    await output.FlushAsync(ct).ConfigureAwait(false);
                    return false;
                }
            }
            lines.Clear();
            await output.FlushAsync(ct).ConfigureAwait(false);
            return true;
        }
    }

    /// <summary>Splits a byte stream into newline-terminated lines, keeping an unfinished tail for the next push.</summary>
    private sealed class LineSplitter
    {
        private readonly List<byte> _rest = [];

        public List<byte[]> Push(ReadOnlySpan<byte> data)
        {
            var result = new List<byte[]>();
            while (data.Length > 0)
            {
                var nl = data.IndexOf((byte)'\n');
                if (nl < 0)
                {
                    _rest.AddRange(data.ToArray());
                    break;
                }
                _rest.AddRange(data[..nl].ToArray());
                result.Add([.. _rest]);
                _rest.Clear();
                data = data[(nl + 1)..];
            }
            return result;
        }
    }
}
