using System.Globalization;
using System.Text;

namespace Tugboat.Agent.Runtimes.Process;

/// <summary>
/// A container log in the CRI format the kubelet reads (<c>2016-10-06T00:17:09.669794202Z stdout F text</c>; <c>P</c> marks
/// a partial line split at 16 KiB), rotated at <see cref="MaxBytes"/> keeping <see cref="MaxFiles"/> files in all, as
/// upstream's containerLogMaxSize/containerLogMaxFiles (10 MiB, 5).
/// </summary>
internal sealed class CriLog(string path) : IDisposable
{
    public const int MaxLine = 16 * 1024;

    public long MaxBytes { get; init; } = 10 * 1024 * 1024;

    public int MaxFiles { get; init; } = 5;

    private readonly Lock _lock = new();
    private readonly List<Action<string, ReadOnlyMemory<byte>>> _listeners = [];

    /// <summary>Adds a listener for raw output as it is read; dispose the result to remove it.</summary>
    public IDisposable Listen(Action<string, ReadOnlyMemory<byte>> listener)
    {
        lock (_listeners)
        {
            _listeners.Add(listener);
        }
        return new Unsubscriber(() =>
        {
            lock (_listeners)
            {
                _listeners.Remove(listener);
            }
        });
    }

    private sealed class Unsubscriber(Action remove) : IDisposable
    {
        public void Dispose() => remove();
    }

    private void Notify(string stream, ReadOnlyMemory<byte> data)
    {
        Action<string, ReadOnlyMemory<byte>>[] listeners;
        lock (_listeners)
        {
            listeners = [.. _listeners];
        }
        foreach (var l in listeners)
        {
            l(stream, data);
        }
    }
    private FileStream? _file;

    public static string Timestamp(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff", CultureInfo.InvariantCulture) + "00Z";

    /// <summary>Appends one line (without its newline) from <paramref name="stream"/>; <paramref name="partial"/> when the line goes on.</summary>
    public void Write(string stream, ReadOnlySpan<byte> line, bool partial)
    {
        var prefix = Encoding.ASCII.GetBytes($"{Timestamp(DateTimeOffset.UtcNow)} {stream} {(partial ? 'P' : 'F')} ");
        lock (_lock)
        {
            _file ??= Open();
            _file.Write(prefix);
            _file.Write(line);
            _file.WriteByte((byte)'\n');
            _file.Flush();
            if (_file.Length >= MaxBytes)
            {
                Rotate();
            }
        }
    }

    /// <summary>Creates the log file if it does not exist yet.</summary>
    public void Touch()
    {
        lock (_lock)
        {
            _file ??= Open();
        }
    }

    private FileStream Open()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        return new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);
    }

    private void Rotate()
    {
        _file!.Dispose();
        _file = null;
        File.Move(path, $"{path}.{DateTime.UtcNow:yyyyMMdd-HHmmss.fffffff}");
        var rotated = Directory.GetFiles(Path.GetDirectoryName(path)!, Path.GetFileName(path) + ".*").Order(StringComparer.Ordinal).ToList();
        foreach (var old in rotated.Take(Math.Max(0, rotated.Count - (MaxFiles - 1))))
        {
            File.Delete(old);
        }
    }

    /// <summary>Copies <paramref name="source"/> (a FIFO the container writes) into the log until it ends.</summary>
    /// <remarks>
    /// The FIFO is opened before any writer exists, so reading it may return end-of-file early; only when
    /// <paramref name="finished"/> says no writer can come any more does end-of-file end the copy.
    /// Synchronous on purpose: it runs on a dedicated thread, so a blocked read never holds a pool thread.
    /// </remarks>
    public void Pump(Stream source, string stream, Func<bool> finished)
    {
        var buffer = new byte[64 * 1024];
        var line = new MemoryStream();
        var drained = false;
        while (true)
        {
            int n;
            try
            {
                n = source.Read(buffer);
            }
            catch (IOException)
            {
                n = 0;
            }
            if (n == 0)
            {
                // End-of-file before the last writer came and went says nothing; once none can come, one more read
                // drains what a quick container wrote between the two.
                if (finished())
                {
                    if (drained)
                    {
                        break;
                    }
                    drained = true;
                    continue;
                }
                Thread.Sleep(10);
                continue;
            }
            drained = false;
            Notify(stream, buffer.AsMemory(0, n).ToArray());
            var start = 0;
            for (var i = 0; i < n; i++)
            {
                if (buffer[i] != (byte)'\n')
                {
                    continue;
                }
                line.Write(buffer, start, i - start);
                Write(stream, line.GetBuffer().AsSpan(0, (int)line.Length), partial: false);
                line.SetLength(0);
                start = i + 1;
            }
            line.Write(buffer, start, n - start);
            while (line.Length >= MaxLine)
            {
                var bytes = line.ToArray();
                Write(stream, bytes.AsSpan(0, MaxLine), partial: true);
                line.SetLength(0);
                line.Write(bytes, MaxLine, bytes.Length - MaxLine);
            }
        }
        if (line.Length > 0)
        {
            // Output that did not end with a newline: upstream writes it as a full line.
            Write(stream, line.GetBuffer().AsSpan(0, (int)line.Length), partial: false);
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _file?.Dispose();
            _file = null;
        }
    }
}
