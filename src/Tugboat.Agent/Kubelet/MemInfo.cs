using System.Globalization;

namespace Tugboat.Agent.Kubelet;

/// <summary>The machine's memory as /proc/meminfo reports it, in bytes.</summary>
internal readonly record struct MemInfo(long Total, long Available)
{
    public static MemInfo Read()
    {
        var fields = File.ReadAllLines("/proc/meminfo").Select(l => l.Split(':', 2)).Where(p => p.Length == 2)
            .ToDictionary(p => p[0], p => long.Parse(p[1].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024, StringComparer.Ordinal);
        return new MemInfo(fields.GetValueOrDefault("MemTotal"), fields.GetValueOrDefault("MemAvailable"));
    }
}
