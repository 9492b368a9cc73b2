using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Tugboat.Agent.Runtimes.Process;

/// <summary>
/// A pseudo-terminal pair: the agent keeps the master (<see cref="Stream"/>: what the command writes to its terminal,
/// and its keyboard) and the command opens <see cref="SlavePath"/> as its stdin, stdout and stderr and controlling
/// terminal. <see cref="Resize"/> sets the window size the command reads (and sends it SIGWINCH).
/// </summary>
internal sealed partial class PseudoTerminal : IDisposable
{
    private readonly SafeFileHandle _master;

    private PseudoTerminal(SafeFileHandle master, string slavePath)
    {
        _master = master;
        SlavePath = slavePath;
        Stream = new MasterStream(master);
    }

    public string SlavePath { get; }

    /// <summary>
    /// The master side. Reads end once every holder of the slave has closed it, or once this pair is disposed (a
    /// command's leftover background process may hold the slave for ever; disposing ends a pending read within 100 ms).
    /// </summary>
    public Stream Stream { get; }

    /// <summary>Opens a new pair (posix_openpt, grantpt, unlockpt).</summary>
    /// <exception cref="IOException">The machine has no free pseudo-terminal.</exception>
    public static PseudoTerminal Open()
    {
        var fd = PosixOpenPt(ORdWr | ONoCtty | OCloExec);
        if (fd < 0)
        {
            throw new IOException($"cannot open a pseudo-terminal: {Marshal.GetLastPInvokeErrorMessage()}");
        }
        var handle = new SafeFileHandle(fd, ownsHandle: true);
        var name = new byte[128];
        if (GrantPt(fd) != 0 || UnlockPt(fd) != 0 || PtsNameR(fd, name, name.Length) != 0)
        {
            var error = Marshal.GetLastPInvokeErrorMessage();
            handle.Dispose();
            throw new IOException($"cannot set up a pseudo-terminal: {error}");
        }
        return new PseudoTerminal(handle, System.Text.Encoding.UTF8.GetString(name, 0, Array.IndexOf(name, (byte)0)));
    }

    /// <summary>Sets the terminal's size in characters; sizes outside 1–65535 are ignored.</summary>
    public void Resize(int columns, int rows)
    {
        if (columns is < 1 or > ushort.MaxValue || rows is < 1 or > ushort.MaxValue || _master.IsClosed)
        {
            return;
        }
        var size = new WinSize { Rows = (ushort)rows, Columns = (ushort)columns };
        _ = IoctlWinSize(_master.DangerousGetHandle().ToInt32(), TiocSWinSz, ref size);
    }

    /// <summary>Sets the window size of the terminal that is process <paramref name="pid"/>'s standard input, if it is one.</summary>
    public static void ResizeOf(int pid, int columns, int rows)
    {
        if (columns is < 1 or > ushort.MaxValue || rows is < 1 or > ushort.MaxValue)
        {
            return;
        }
        // Opening /proc/PID/fd/0 reaches the process's terminal whatever mount namespace it is in.
        var fd = OpenPath($"/proc/{pid.ToString(System.Globalization.CultureInfo.InvariantCulture)}/fd/0", ORdWr | ONoCtty | OCloExec | ONonBlock);
        if (fd < 0)
        {
            return;
        }
        using var handle = new SafeFileHandle(fd, ownsHandle: true);
        if (IsATty(fd) == 1)
        {
            var size = new WinSize { Rows = (ushort)rows, Columns = (ushort)columns };
            _ = IoctlWinSize(fd, TiocSWinSz, ref size);
        }
    }

    public void Dispose()
    {
        Stream.Dispose();
        // A read may still be inside its poll slice: give it the slice before the descriptor goes.
        Task.Delay(200).ContinueWith(_ => _master.Dispose(), TaskScheduler.Default);
    }

    /// <summary>Reads wait in poll(2) slices so that they notice disposal and cancellation; writes go straight to the master.</summary>
    private sealed class MasterStream(SafeFileHandle master) : Stream
    {
        private volatile bool _disposed;

        public override bool CanRead => true;

        public override bool CanWrite => true;

        public override bool CanSeek => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count), CancellationToken.None);

        public override int Read(Span<byte> buffer) => Read(buffer, CancellationToken.None);

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) => ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) =>
            new(Task.Run(() => Read(buffer.Span, ct), CancellationToken.None));

        private unsafe int Read(Span<byte> buffer, CancellationToken ct)
        {
            while (!_disposed && !ct.IsCancellationRequested)
            {
                var fd = new PollFd { Fd = master.DangerousGetHandle().ToInt32(), Events = PollIn };
                if (Poll(ref fd, 1, 100) <= 0)
                {
                    continue;
                }
                fixed (byte* p = buffer)
                {
                    var n = ReadFd(fd.Fd, p, buffer.Length);
                    if (n >= 0)
                    {
                        return (int)n;
                    }
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno is not (EIntr or EAgain))
                    {
                        // EIO: nothing holds the slave any more.
                        return 0;
                    }
                }
            }
            return 0;
        }

        public override unsafe void Write(ReadOnlySpan<byte> buffer)
        {
            while (!buffer.IsEmpty && !_disposed)
            {
                fixed (byte* p = buffer)
                {
                    var n = WriteFd(master.DangerousGetHandle().ToInt32(), p, buffer.Length);
                    if (n < 0)
                    {
                        var errno = Marshal.GetLastPInvokeError();
                        if (errno is EIntr or EAgain)
                        {
                            continue;
                        }
                        throw new IOException($"cannot write to the terminal: {Marshal.GetPInvokeErrorMessage(errno)}");
                    }
                    buffer = buffer[(int)n..];
                }
            }
        }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken ct)
        {
            Write(buffer.AsSpan(offset, count));
            return Task.CompletedTask;
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default)
        {
            Write(buffer.Span);
            return ValueTask.CompletedTask;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            _disposed = true;
            base.Dispose(disposing);
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    private const short PollIn = 1;
    private const int EIntr = 4;
    private const int EAgain = 11;
    private const int ORdWr = 0x2;
    private const int ONonBlock = 0x800;
    private const int ONoCtty = 0x100;
    private const int OCloExec = 0x80000;
    private const nuint TiocSWinSz = 0x5414;

    [StructLayout(LayoutKind.Sequential)]
    private struct WinSize
    {
        public ushort Rows;
        public ushort Columns;
        public ushort XPixels;
        public ushort YPixels;
    }

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int OpenPath(string path, int flags);

    [LibraryImport("libc", EntryPoint = "isatty")]
    private static partial int IsATty(int fd);

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    private static partial int Poll(ref PollFd fds, nuint count, int timeoutMs);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    private static unsafe partial nint ReadFd(int fd, byte* buffer, nint count);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    private static unsafe partial nint WriteFd(int fd, byte* buffer, nint count);

    [LibraryImport("libc", EntryPoint = "posix_openpt", SetLastError = true)]
    private static partial int PosixOpenPt(int flags);

    [LibraryImport("libc", EntryPoint = "grantpt", SetLastError = true)]
    private static partial int GrantPt(int fd);

    [LibraryImport("libc", EntryPoint = "unlockpt", SetLastError = true)]
    private static partial int UnlockPt(int fd);

    [LibraryImport("libc", EntryPoint = "ptsname_r", SetLastError = true)]
    private static partial int PtsNameR(int fd, [Out] byte[] buffer, nint length);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int IoctlWinSize(int fd, nuint request, ref WinSize size);
}
