using System.Globalization;
using System.Text.Json.Nodes;
using Tugboat.Agent.Runtime;
using Tugboat.Api.Meta;

namespace Tugboat.Agent.Kubelet;

/// <summary>
/// Samples the node's and every container's CPU and memory every <see cref="Interval"/> and keeps the last two samples,
/// so that CPU can be given as a rate over the window between them (as the kubelet's resource metrics endpoint does).
/// </summary>
internal sealed class StatsCollector(IContainerRuntime runtime)
{
    public static TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(10);

    private readonly Lock _lock = new();
    private (DateTimeOffset Time, TimeSpan Busy)? _nodePrevious;
    private (DateTimeOffset Time, TimeSpan Busy)? _nodeLatest;
    private Dictionary<string, ContainerStats> _previous = new(StringComparer.Ordinal);
    private Dictionary<string, ContainerStats> _latest = new(StringComparer.Ordinal);

    public async Task RunAsync(CancellationToken ct)
    {
        if (runtime is not IStatsRuntime)
        {
            return;
        }
        try
        {
            while (!ct.IsCancellationRequested)
            {
                Sample();
                await Task.Delay(Interval, ct).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private void Sample()
    {
        var stats = (IStatsRuntime)runtime;
        var now = new Dictionary<string, ContainerStats>(StringComparer.Ordinal);
        foreach (var c in runtime.List().Where(c => c.Status == ContainerStatus.Running))
        {
            if (stats.Stats(c.Id) is { } s)
            {
                now[c.Id] = s;
            }
        }
        var busy = NodeBusy();
        lock (_lock)
        {
            _previous = _latest;
            _latest = now;
            _nodePrevious = _nodeLatest;
            _nodeLatest = busy is { } b ? (DateTimeOffset.UtcNow, b) : null;
        }
    }

    /// <summary>CPU time spent not idle since boot, summed over all CPUs (/proc/stat).</summary>
    private static TimeSpan? NodeBusy()
    {
        try
        {
            var fields = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(f => long.Parse(f, CultureInfo.InvariantCulture)).ToArray();
            // user nice system idle iowait irq softirq steal: idle and iowait are not busy; USER_HZ is 100.
            var busyTicks = fields.Take(8).Sum() - fields[3] - fields[4];
            return TimeSpan.FromMilliseconds(busyTicks * 10);
        }
        catch (Exception e) when (e is IOException or FormatException or IndexOutOfRangeException)
        {
            return null;
        }
    }

    /// <summary>The endpoint's answer: node usage and each pod's containers with a rate (those sampled twice).</summary>
    public JsonObject Snapshot()
    {
        lock (_lock)
        {
            var memory = MemInfo.Read();
            var window = _nodeLatest is { } l && _nodePrevious is { } p ? l.Time - p.Time : Interval;
            var nodeCpu = _nodeLatest is { } nl && _nodePrevious is { } np && nl.Time > np.Time
                ? (long)((nl.Busy - np.Busy).TotalSeconds / (nl.Time - np.Time).TotalSeconds * 1e9) : 0;
            var pods = new Dictionary<string, (JsonObject Pod, JsonArray Containers)>(StringComparer.Ordinal);
            foreach (var c in runtime.List())
            {
                if (!_latest.TryGetValue(c.Id, out var latest) || !_previous.TryGetValue(c.Id, out var previous) || latest.Timestamp <= previous.Timestamp)
                {
                    continue;
                }
                var ns = c.Config.Labels.GetValueOrDefault(NodeAgent.PodNamespaceLabel, string.Empty);
                var name = c.Config.Labels.GetValueOrDefault(NodeAgent.PodNameLabel, string.Empty);
                var key = ns + "/" + name;
                if (!pods.TryGetValue(key, out var entry))
                {
                    entry = (new JsonObject { ["namespace"] = ns, ["name"] = name }, new JsonArray());
                    entry.Pod["containers"] = entry.Containers;
                    pods[key] = entry;
                }
                var rate = (latest.CpuUsage - previous.CpuUsage).TotalSeconds / (latest.Timestamp - previous.Timestamp).TotalSeconds;
                entry.Containers.Add(new JsonObject
                {
                    ["name"] = c.Config.Labels.GetValueOrDefault(NodeAgent.ContainerLabel, string.Empty),
                    ["cpuNanoCores"] = (long)Math.Max(0, rate * 1e9),
                    ["memoryWorkingSetBytes"] = latest.MemoryWorkingSetBytes,
                });
            }
            return new JsonObject
            {
                ["node"] = new JsonObject
                {
                    ["time"] = Times.Format(_nodeLatest?.Time ?? DateTimeOffset.UtcNow),
                    ["window"] = $"{window.TotalSeconds:0.###}s",
                    ["cpuNanoCores"] = nodeCpu,
                    ["memoryWorkingSetBytes"] = memory.Total - memory.Available,
                },
                ["pods"] = new JsonArray(pods.Values.Select(p => (JsonNode?)p.Pod).ToArray()),
            };
        }
    }
}
