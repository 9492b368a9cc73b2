using System.Globalization;

namespace Tugboat.Agent.Volumes;

/// <summary>
/// Writes a set of files into a volume directory the way the kubelet's AtomicWriter does, so that a reader never sees
/// a half-updated volume: the files live in a timestamped directory, <c>..data</c> is a symlink to it swapped by rename,
/// and each visible name is a symlink through <c>..data</c>.
/// </summary>
internal static partial class AtomicWriter
{
    public sealed record File(string Path, byte[] Content, int Mode);

    /// <summary>Makes <paramref name="dir"/> hold exactly <paramref name="files"/>; returns false when nothing changed.</summary>
    public static bool Write(string dir, IReadOnlyList<File> files)
    {
        Directory.CreateDirectory(dir);
        var dataLink = Path.Combine(dir, "..data");
        if (Current(dataLink) is { } current && SameIn(Path.Combine(dir, current), files))
        {
            return false;
        }
        var stamp = ".." + DateTime.UtcNow.ToString("yyyy_MM_dd_HH_mm_ss.fffffff", CultureInfo.InvariantCulture);
        var target = Path.Combine(dir, stamp);
        Directory.CreateDirectory(target);
        foreach (var f in files)
        {
            var path = Path.Combine(target, f.Path);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            System.IO.File.WriteAllBytes(path, f.Content);
            System.IO.File.SetUnixFileMode(path, (UnixFileMode)(f.Mode & 0x1FF));
        }
        var old = Current(dataLink);
        var tmp = Path.Combine(dir, "..data_tmp");
        if (IsLink(tmp))
        {
            System.IO.File.Delete(tmp);
        }
        System.IO.File.CreateSymbolicLink(tmp, stamp);
        // rename(2) swaps the link itself atomically (File.Move would look through it).
        if (Rename(tmp, dataLink) != 0)
        {
            throw new IOException($"rename {tmp}: errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");
        }
        var visible = files.Select(f => f.Path.Split('/')[0]).ToHashSet(StringComparer.Ordinal);
        foreach (var name in visible)
        {
            var link = Path.Combine(dir, name);
            if (!IsLink(link))
            {
                System.IO.File.CreateSymbolicLink(link, Path.Combine("..data", name));
            }
        }
        foreach (var entry in Directory.EnumerateFileSystemEntries(dir))
        {
            var name = Path.GetFileName(entry);
            if (!name.StartsWith("..", StringComparison.Ordinal) && !visible.Contains(name) && IsLink(entry))
            {
                System.IO.File.Delete(entry);
            }
        }
        if (old is not null && Path.Combine(dir, old) is var oldDir && Directory.Exists(oldDir) && old != stamp)
        {
            Directory.Delete(oldDir, recursive: true);
        }
        return true;
    }

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "rename", StringMarshalling = System.Runtime.InteropServices.StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Rename(string from, string to);

    private static bool IsLink(string path) => new FileInfo(path).LinkTarget is not null;

    private static string? Current(string dataLink) => new FileInfo(dataLink).LinkTarget;

    private static bool SameIn(string dir, IReadOnlyList<File> files)
    {
        return files.All(f => System.IO.File.Exists(Path.Combine(dir, f.Path)) && System.IO.File.ReadAllBytes(Path.Combine(dir, f.Path)).AsSpan().SequenceEqual(f.Content))
            && Directory.Exists(dir) && Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).Count() == files.Count;
    }
}
