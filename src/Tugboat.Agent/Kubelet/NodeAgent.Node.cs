using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using Tugboat.Api.Meta;
using Tugboat.Api.Serialization;
using Tugboat.Agent.Runtime;
using Tugboat.Client;

namespace Tugboat.Agent.Kubelet;

/// <summary>Node registration, status and heartbeat.</summary>
public sealed partial class NodeAgent
{
    private static readonly string KernelVersion = File.Exists("/proc/sys/kernel/osrelease") ? File.ReadAllText("/proc/sys/kernel/osrelease").Trim() : Environment.OSVersion.Version.ToString();

    /// <summary>Creates or takes back the Node object; returns the node's pod range (a free /24 of the cluster range on first registration).</summary>
    private async Task<IPNetwork> RegisterAsync(CancellationToken ct)
    {
        var path = $"/api/v1/nodes/{NodeName}";
        JsonObject? existing;
        try
        {
            existing = await Client.GetAsync(path, ct).ConfigureAwait(false);
        }
        catch (ApiError e) when (e.IsNotFound)
        {
            existing = null;
        }
        var status = Status(DateTimeOffset.UtcNow, null);
        IPNetwork range;
        if (existing?["spec"]?["podCIDR"]?.GetValue<string>() is { } known && IPNetwork.TryParse(known, out var parsed))
        {
            range = parsed;
        }
        else
        {
            range = await FreeRangeAsync(ct).ConfigureAwait(false);
        }
        Directory.CreateDirectory(Path.Combine(_options.DataDir, "cni"));
        File.WriteAllText(Path.Combine(_options.DataDir, "cni", "range"), range.ToString());
        var labels = new JsonObject
        {
            ["kubernetes.io/hostname"] = NodeName,
            ["kubernetes.io/os"] = "linux",
            ["kubernetes.io/arch"] = Arch,
            ["beta.kubernetes.io/os"] = "linux",
            ["beta.kubernetes.io/arch"] = Arch,
        };
        foreach (var (k, v) in _options.Labels)
        {
            labels[k] = v;
        }
        if (existing is null)
        {
            try
            {
                await Client.CreateAsync("/api/v1/nodes", new JsonObject
                {
                    ["apiVersion"] = "v1",
                    ["kind"] = "Node",
                    ["metadata"] = new JsonObject { ["name"] = NodeName, ["labels"] = labels },
                    ["spec"] = new JsonObject { ["podCIDR"] = range.ToString(), ["podCIDRs"] = new JsonArray(range.ToString()) },
                    ["status"] = status.DeepClone(),
                }, ct).ConfigureAwait(false);
            }
            catch (ApiError e) when (e.IsAlreadyExists)
            {
            }
        }
        else
        {
            var patch = new JsonObject { ["metadata"] = new JsonObject { ["labels"] = labels } };
            if (existing["spec"]?["podCIDR"] is null)
            {
                patch["spec"] = new JsonObject { ["podCIDR"] = range.ToString(), ["podCIDRs"] = new JsonArray(range.ToString()) };
            }
            await Client.MergePatchAsync(path, patch, ct).ConfigureAwait(false);
        }
        var written = await Client.MergePatchAsync(path + "/status", new JsonObject { ["status"] = status }, ct).ConfigureAwait(false);
        // What a kubelet says when it starts, shown by `kubectl describe node`.
        Events.Record(written, "v1", "Node", "Normal", "Starting", "Starting kubelet.");
        foreach (var condition in written["status"]?["conditions"]?.AsArray().OfType<JsonObject>() ?? [])
        {
            var eventReason = condition["reason"]?.GetValue<string>() switch
            {
                "KubeletHasSufficientMemory" => "NodeHasSufficientMemory",
                "KubeletHasNoDiskPressure" => "NodeHasNoDiskPressure",
                "KubeletHasSufficientPID" => "NodeHasSufficientPID",
                "KubeletReady" => "NodeReady",
                _ => null,
            };
            if (eventReason is not null)
            {
                Events.Record(written, "v1", "Node", "Normal", eventReason, $"Node {NodeName} status is now: {eventReason}");
            }
        }
        _lastStatus = written["status"]?.DeepClone().AsObject();
        _lastStatusAt = DateTimeOffset.UtcNow;
        await RenewLeaseAsync(ct).ConfigureAwait(false);
        return range;
    }

    private async Task<IPNetwork> FreeRangeAsync(CancellationToken ct)
    {
        var (nodes, _) = await Client.ListAsync("/api/v1/nodes", null, ct).ConfigureAwait(false);
        var used = nodes.SelectMany(n => (n["spec"]?["podCIDRs"]?.AsArray() ?? []).Select(c => c?.GetValue<string>()).Append(n["spec"]?["podCIDR"]?.GetValue<string>()))
            .OfType<string>().ToHashSet(StringComparer.Ordinal);
        var baseBytes = _options.ClusterCidr.BaseAddress.GetAddressBytes();
        var count = 1 << Math.Max(0, 24 - _options.ClusterCidr.PrefixLength);
        for (var i = 0; i < count; i++)
        {
            var value = (uint)(baseBytes[0] << 24 | baseBytes[1] << 16 | baseBytes[2] << 8) + (uint)(i << 8);
            var candidate = new IPNetwork(new IPAddress([(byte)(value >> 24), (byte)(value >> 16), (byte)(value >> 8), 0]), 24);
            if (!used.Contains(candidate.ToString()))
            {
                return candidate;
            }
        }
        throw new InvalidOperationException($"no free /24 left in the cluster range {_options.ClusterCidr}");
    }

    private static string Arch => System.Runtime.InteropServices.RuntimeInformation.OSArchitecture switch
    {
        System.Runtime.InteropServices.Architecture.Arm64 => "arm64",
        System.Runtime.InteropServices.Architecture.Arm => "arm",
        _ => "amd64",
    };

    private JsonObject? _lastStatus;
    private DateTimeOffset _lastStatusAt;

    /// <summary>The node's status from the machine: capacity, allocatable (minus upstream's hard eviction thresholds), conditions, addresses, nodeInfo.</summary>
    private JsonObject Status(DateTimeOffset now, JsonObject? previous)
    {
        var (memory, available) = MemInfo.Read();
        var drive = new DriveInfo(Path.GetFullPath(_options.DataDir));
        var disk = drive.TotalSize;
        var diskFree = drive.AvailableFreeSpace;
        const long evictionMemory = 100L * 1024 * 1024;
        var capacity = new JsonObject
        {
            ["cpu"] = Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture),
            ["memory"] = $"{memory / 1024}Ki",
            ["pods"] = "110",
            ["ephemeral-storage"] = $"{disk / 1024}Ki",
            ["hugepages-1Gi"] = "0",
            ["hugepages-2Mi"] = "0",
        };
        var allocatable = capacity.DeepClone().AsObject();
        allocatable["memory"] = $"{Math.Max(0, memory - evictionMemory) / 1024}Ki";
        allocatable["ephemeral-storage"] = ((long)(disk * 0.9)).ToString(CultureInfo.InvariantCulture);
        _allocatable = new Dictionary<string, decimal>(StringComparer.Ordinal)
        {
            ["cpu"] = Environment.ProcessorCount,
            ["memory"] = Math.Max(0, memory - evictionMemory),
            ["ephemeral-storage"] = (decimal)(disk * 0.9),
            ["pods"] = 110,
        };
        var time = Times.Format(now);
        var previousConditions = previous?["conditions"]?.AsArray().OfType<JsonObject>().ToList() ?? [];
        JsonObject Condition(string type, bool status, string reason, string message)
        {
            var value = status ? "True" : "False";
            var before = previousConditions.FirstOrDefault(c => c["type"]?.GetValue<string>() == type);
            return new JsonObject
            {
                ["type"] = type,
                ["status"] = value,
                ["lastHeartbeatTime"] = time,
                ["lastTransitionTime"] = before?["status"]?.GetValue<string>() == value ? before["lastTransitionTime"]?.DeepClone() : time,
                ["reason"] = reason,
                ["message"] = message,
            };
        }
        var memoryPressure = available < evictionMemory;
        var diskPressure = disk > 0 && diskFree < disk / 10;
        var pidMax = File.Exists("/proc/sys/kernel/pid_max") ? long.Parse(File.ReadAllText("/proc/sys/kernel/pid_max").Trim(), CultureInfo.InvariantCulture) : 32768;
        var pids = Directory.EnumerateDirectories("/proc").Count(d => char.IsAsciiDigit(Path.GetFileName(d)[0]));
        var pidPressure = pids > pidMax * 0.9;
        return new JsonObject
        {
            ["capacity"] = capacity,
            ["allocatable"] = allocatable,
            ["conditions"] = new JsonArray(
                Condition("MemoryPressure", memoryPressure, memoryPressure ? "KubeletHasInsufficientMemory" : "KubeletHasSufficientMemory", memoryPressure ? "kubelet has insufficient memory available" : "kubelet has sufficient memory available"),
                Condition("DiskPressure", diskPressure, diskPressure ? "KubeletHasDiskPressure" : "KubeletHasNoDiskPressure", diskPressure ? "kubelet has disk pressure" : "kubelet has no disk pressure"),
                Condition("PIDPressure", pidPressure, pidPressure ? "KubeletHasInsufficientPID" : "KubeletHasSufficientPID", pidPressure ? "kubelet has insufficient PID available" : "kubelet has sufficient PID available"),
                Condition("Ready", true, "KubeletReady", "kubelet is posting ready status")),
            ["addresses"] = new JsonArray(
                new JsonObject { ["type"] = "InternalIP", ["address"] = NodeIp },
                new JsonObject { ["type"] = "Hostname", ["address"] = NodeName }),
            ["daemonEndpoints"] = new JsonObject { ["kubeletEndpoint"] = new JsonObject { ["Port"] = KubeletPort } },
            ["nodeInfo"] = new JsonObject
            {
                ["machineID"] = ReadTrim("/etc/machine-id"),
                ["systemUUID"] = ReadTrim("/sys/class/dmi/id/product_uuid") is { Length: > 0 } uuid ? uuid : ReadTrim("/etc/machine-id"),
                ["bootID"] = ReadTrim("/proc/sys/kernel/random/boot_id"),
                ["kernelVersion"] = KernelVersion,
                ["osImage"] = OsImage(),
                ["containerRuntimeVersion"] = Runtime.Version,
                ["kubeletVersion"] = "v1.30.0-tugboat",
                ["kubeProxyVersion"] = "v1.30.0-tugboat",
                ["operatingSystem"] = "linux",
                ["architecture"] = Arch,
            },
        };
    }

    /// <summary>The port the agent's endpoint actually listens on (set once it is bound).</summary>
    public int KubeletPort { get; set; }

    private static string ReadTrim(string file)
    {
        try
        {
            return File.ReadAllText(file).Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return string.Empty;
        }
    }

    private static string OsImage() =>
        File.Exists("/etc/os-release") && File.ReadAllLines("/etc/os-release").FirstOrDefault(l => l.StartsWith("PRETTY_NAME=", StringComparison.Ordinal)) is { } line
            ? line[12..].Trim('"')
            : "Linux";

    private Task RenewLeaseAsync(CancellationToken ct) => NodeLease.RenewAsync(Client, NodeName, _options.LeaseDurationSeconds, ct);

    /// <summary>Renews the Lease every quarter of its duration; rewrites node status when it changed or a minute passed (upstream: 5 min).</summary>
    private async Task HeartbeatAsync(CancellationToken ct)
    {
        var interval = TimeSpan.FromSeconds(_options.LeaseDurationSeconds / 4.0);
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(interval, ct).ConfigureAwait(false);
                await RenewLeaseAsync(ct).ConfigureAwait(false);
                var node = await Client.GetAsync($"/api/v1/nodes/{NodeName}", ct).ConfigureAwait(false);
                var current = node["status"]?.AsObject();
                var status = Status(DateTimeOffset.UtcNow, current);
                if (await ImagesAsync(ct).ConfigureAwait(false) is { } images)
                {
                    status["images"] = images;
                }
                var ready = current?["conditions"]?.AsArray().OfType<JsonObject>().FirstOrDefault(c => c["type"]?.GetValue<string>() == "Ready")?["status"]?.GetValue<string>();
                if (ready != "True" || Changed(current, status) || DateTimeOffset.UtcNow - _lastStatusAt > TimeSpan.FromMinutes(1))
                {
                    await Client.MergePatchAsync($"/api/v1/nodes/{NodeName}/status", new JsonObject { ["status"] = status }, ct).ConfigureAwait(false);
                    _lastStatusAt = DateTimeOffset.UtcNow;
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is ApiError or HttpRequestException or TaskCanceledException or IOException)
            {
                LogNodeFailed(NodeName, e.Message);
            }
        }
    }

    /// <summary>
    /// The images the node's runtime holds, largest first and at most 50 (the kubelet's nodeStatusMaxImages), as the
    /// scheduler's ImageLocality reads them; null for runtimes without images or when the runtime does not answer.
    /// </summary>
    private async Task<JsonArray?> ImagesAsync(CancellationToken ct)
    {
        if (Runtime is not IImageRuntime images)
        {
            return null;
        }
        try
        {
            var listed = await images.ListImagesAsync(ct).ConfigureAwait(false);
            return new JsonArray(listed.Where(i => i.Names.Count > 0).OrderByDescending(i => i.SizeBytes).Take(50)
                .Select(i => (JsonNode)new JsonObject { ["names"] = new JsonArray(i.Names.Select(n => (JsonNode)JsonValue.Create(n)!).ToArray()), ["sizeBytes"] = i.SizeBytes }).ToArray());
        }
        catch (Grpc.Core.RpcException)
        {
            return null;
        }
    }

    /// <summary>True when conditions' statuses, allocatable or the images differ (heartbeat times alone do not count).</summary>
    private static bool Changed(JsonObject? current, JsonObject status)
    {
        string Key(JsonObject? s) => string.Join(',', s?["conditions"]?.AsArray().OfType<JsonObject>().Select(c => $"{c["type"]}={c["status"]}") ?? [])
            + (s?["allocatable"]?["pods"]?.ToString() ?? string.Empty) + (s?["daemonEndpoints"]?.ToJsonString(JsonLimits.Writer) ?? string.Empty)
            + (s?["images"]?.ToJsonString(JsonLimits.Writer) ?? string.Empty);
        return Key(current) != Key(status);
    }
}
