using System.Globalization;

namespace Tugboat.Agent.Runtimes.Process;

/// <summary>
/// One container's control group, on cgroup v2 (a single <c>/sys/fs/cgroup/tugboat/ID</c>) or v1 (the same path under
/// the memory, cpu and cpuacct hierarchies), whichever the machine has. Limits are written before any process joins.
/// </summary>
internal sealed class Cgroup
{
    private const string Root = "/sys/fs/cgroup";

    private Cgroup(IReadOnlyList<string> dirs, bool v2)
    {
        Directories = dirs;
        IsV2 = v2;
    }

    /// <summary>The directories a process joins by writing its PID to their cgroup.procs.</summary>
    public IReadOnlyList<string> Directories { get; }

    public bool IsV2 { get; }

    /// <summary>True when this machine lets us create cgroups (root, and a writable hierarchy with the memory controller).</summary>
    public static bool Available { get; } = Detect();

    private static bool V2 => File.Exists(Path.Combine(Root, "cgroup.controllers"));

    private static bool Detect()
    {
        if (Environment.UserName != "root" && Environment.GetEnvironmentVariable("USER") != "root" && !IsRootUid())
        {
            return false;
        }
        return V2
            ? File.ReadAllText(Path.Combine(Root, "cgroup.controllers")).Split(' ', StringSplitOptions.TrimEntries).Contains("memory")
            : Directory.Exists(Path.Combine(Root, "memory")) && Directory.Exists(Path.Combine(Root, "cpu"));
    }

    internal static bool IsRootUid() => File.ReadAllLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("Uid:", StringComparison.Ordinal))?.Split('\t', StringSplitOptions.RemoveEmptyEntries) is [_, "0", ..];

    /// <summary>The cgroup of container <paramref name="id"/>, existing or not.</summary>
    public static Cgroup For(string id) => V2
        ? new Cgroup([Path.Combine(Root, "tugboat", id)], true)
        : new Cgroup(new[] { "memory", "cpu", "cpuacct", "pids" }.Where(c => Directory.Exists(Path.Combine(Root, c))).Select(c => Path.Combine(Root, c, "tugboat", id)).Distinct().ToList(), false);

    /// <summary>Creates the cgroup with the given limits (null: unlimited).</summary>
    public void Create(long? memoryBytes, long? cpuMillis, long? cpuRequestMillis)
    {
        if (IsV2)
        {
            // Controllers must be enabled for the children of every level above the container's group.
            TryWrite(Path.Combine(Root, "cgroup.subtree_control"), "+memory +cpu +pids");
            Directory.CreateDirectory(Path.Combine(Root, "tugboat"));
            TryWrite(Path.Combine(Root, "tugboat", "cgroup.subtree_control"), "+memory +cpu +pids");
        }
        foreach (var dir in Directories)
        {
            Directory.CreateDirectory(dir);
        }
        if (IsV2)
        {
            var dir = Directories[0];
            if (memoryBytes is { } m)
            {
                File.WriteAllText(Path.Combine(dir, "memory.max"), m.ToString(CultureInfo.InvariantCulture));
                TryWrite(Path.Combine(dir, "memory.swap.max"), "0");
            }
            if (cpuMillis is { } c)
            {
                File.WriteAllText(Path.Combine(dir, "cpu.max"), $"{Math.Max(1000, c * 100)} 100000");
            }
            if (cpuRequestMillis is { } r)
            {
                // Upstream's shares (millicores * 1024 / 1000) mapped onto cgroup v2 weights as runc maps them.
                var shares = Math.Max(2, r * 1024 / 1000);
                TryWrite(Path.Combine(dir, "cpu.weight"), (1 + ((shares - 2) * 9999 / 262142)).ToString(CultureInfo.InvariantCulture));
            }
            return;
        }
        foreach (var dir in Directories)
        {
            if (memoryBytes is { } m && File.Exists(Path.Combine(dir, "memory.limit_in_bytes")))
            {
                File.WriteAllText(Path.Combine(dir, "memory.limit_in_bytes"), m.ToString(CultureInfo.InvariantCulture));
                // With swap accounting, memory+swap gets the same limit so that the limit is not escaped into swap.
                TryWrite(Path.Combine(dir, "memory.memsw.limit_in_bytes"), m.ToString(CultureInfo.InvariantCulture));
                TryWrite(Path.Combine(dir, "memory.swappiness"), "0");
            }
            if (File.Exists(Path.Combine(dir, "cpu.cfs_quota_us")))
            {
                if (cpuMillis is { } c)
                {
                    File.WriteAllText(Path.Combine(dir, "cpu.cfs_period_us"), "100000");
                    File.WriteAllText(Path.Combine(dir, "cpu.cfs_quota_us"), Math.Max(1000, c * 100).ToString(CultureInfo.InvariantCulture));
                }
                if (cpuRequestMillis is { } r)
                {
                    File.WriteAllText(Path.Combine(dir, "cpu.shares"), Math.Max(2, r * 1024 / 1000).ToString(CultureInfo.InvariantCulture));
                }
            }
        }
    }

    /// <summary>PIDs of every process in the group.</summary>
    public IReadOnlyList<int> Processes()
    {
        var file = Path.Combine(Directories.FirstOrDefault(d => !IsV2 && d.Contains("/memory/", StringComparison.Ordinal)) ?? Directories.FirstOrDefault() ?? "/nonexistent", "cgroup.procs");
        try
        {
            return File.ReadAllLines(file).Select(l => int.Parse(l, CultureInfo.InvariantCulture)).ToList();
        }
        catch (IOException)
        {
            return [];
        }
    }

    /// <summary>True when the kernel's OOM killer killed a process of this group.</summary>
    public bool OomKilled()
    {
        var file = IsV2 ? Path.Combine(Directories[0], "memory.events") : Path.Combine(Root, "memory", "tugboat", Path.GetFileName(Directories[0]), "memory.oom_control");
        try
        {
            return File.ReadAllLines(file).Any(l => l.StartsWith("oom_kill ", StringComparison.Ordinal) && l[9..].Trim() != "0");
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>Cumulative CPU time and working-set memory (usage minus inactive file pages, as the kubelet computes it).</summary>
    public (TimeSpan Cpu, long WorkingSet)? Usage()
    {
        try
        {
            if (IsV2)
            {
                var dir = Directories[0];
                var usec = File.ReadAllLines(Path.Combine(dir, "cpu.stat")).First(l => l.StartsWith("usage_usec ", StringComparison.Ordinal))[11..];
                var current = long.Parse(File.ReadAllText(Path.Combine(dir, "memory.current")).Trim(), CultureInfo.InvariantCulture);
                var inactive = Stat(Path.Combine(dir, "memory.stat"), "inactive_file");
                return (TimeSpan.FromMicroseconds(long.Parse(usec, CultureInfo.InvariantCulture)), Math.Max(0, current - inactive));
            }
            var id = Path.GetFileName(Directories[0]);
            var memory = Path.Combine(Root, "memory", "tugboat", id);
            var cpuacct = Directory.Exists(Path.Combine(Root, "cpuacct", "tugboat", id)) ? Path.Combine(Root, "cpuacct", "tugboat", id) : Path.Combine(Root, "cpu", "tugboat", id);
            var nanos = long.Parse(File.ReadAllText(Path.Combine(cpuacct, "cpuacct.usage")).Trim(), CultureInfo.InvariantCulture);
            var usage = long.Parse(File.ReadAllText(Path.Combine(memory, "memory.usage_in_bytes")).Trim(), CultureInfo.InvariantCulture);
            var inactiveV1 = Stat(Path.Combine(memory, "memory.stat"), "total_inactive_file");
            return (TimeSpan.FromTicks(nanos / 100), Math.Max(0, usage - inactiveV1));
        }
        catch (Exception e) when (e is IOException or FormatException or InvalidOperationException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static long Stat(string file, string key) =>
        File.ReadAllLines(file).Select(l => l.Split(' ')).FirstOrDefault(p => p.Length == 2 && p[0] == key) is { } p ? long.Parse(p[1], CultureInfo.InvariantCulture) : 0;

    /// <summary>Removes the group (its processes must be gone).</summary>
    public void Delete()
    {
        foreach (var dir in Directories)
        {
            for (var attempt = 0; attempt < 20 && Directory.Exists(dir); attempt++)
            {
                try
                {
                    Directory.Delete(dir);
                }
                catch (IOException)
                {
                    // EBUSY while the last exited process is being released.
                    Thread.Sleep(10);
                }
            }
        }
    }

    private static void TryWrite(string file, string value)
    {
        try
        {
            File.WriteAllText(file, value);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }
}
