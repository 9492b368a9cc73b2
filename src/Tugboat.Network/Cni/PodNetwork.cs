using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;

namespace Tugboat.Network.Cni;

/// <summary>
/// Pod network namespaces wired by the standard CNI plugins (bridge, host-local, loopback) into this node's pod range.
/// Each pod gets <c>/var/run/netns/tug-UID</c> with an <c>eth0</c> on the node's bridge and an address from the range.
/// </summary>
/// <remarks>
/// Networking safety: the bridge holds the range's gateway address itself (the plugin's isGateway is off, so it never
/// turns on the machine's IP forwarding; the service proxy enables it on the bridge alone), pods get routes to the pod and service ranges only and no default route, and the whole pod
/// and service ranges get <c>unreachable</c> routes on the host so that nothing addressed to them can follow the
/// default route out. <see cref="Teardown"/> removes the bridge and those routes.
/// </remarks>
public sealed class PodNetwork
{
    private readonly string _stateDir;
    private readonly IPNetwork _podRange;

    /// <param name="podRange">This node's pod range (a /24 of the cluster range).</param>
    /// <param name="clusterRanges">The cluster's pod and service ranges, made unreachable off the node.</param>
    public PodNetwork(string stateDir, string pluginDir, IPNetwork podRange, IReadOnlyList<IPNetwork> clusterRanges)
    {
        _stateDir = stateDir;
        PluginDir = pluginDir;
        _podRange = podRange;
        ClusterRanges = clusterRanges;
        var bytes = podRange.BaseAddress.GetAddressBytes();
        Gateway = new IPAddress([bytes[0], bytes[1], bytes[2], (byte)(bytes[3] + 1)]);
        BridgeName = $"tug{bytes[0]:x2}{bytes[1]:x2}{bytes[2]:x2}";
    }

    /// <summary>
    /// The unreachable routes' metric: above the bridge's connected route (metric 0), so that a range equal to the
    /// node's own /24 does not shadow it, while still catching everything the bridge does not serve.
    /// </summary>
    private const string UnreachableMetric = "4242";

    public string PluginDir { get; }

    public IReadOnlyList<IPNetwork> ClusterRanges { get; }

    public string BridgeName { get; }

    /// <summary>This node's pod range.</summary>
    public IPNetwork PodRange => _podRange;

    public IPAddress Gateway { get; }

    /// <summary>The CNI plugins directory of this machine (Debian's containernetworking-plugins), or null if it has none.</summary>
    public static string? FindPlugins() =>
        new[] { "/usr/lib/cni", "/opt/cni/bin" }.FirstOrDefault(d => File.Exists(Path.Combine(d, "bridge")) && File.Exists(Path.Combine(d, "host-local")));

    /// <summary>Creates the bridge with the gateway address and the unreachable routes, if they are not there yet.</summary>
    public async Task EnsureBridgeAsync(CancellationToken ct)
    {
        Directory.CreateDirectory(_stateDir);
        // Remembered for tearing the network down without the agent's configuration (tug killall).
        File.WriteAllLines(Path.Combine(_stateDir, "cluster-ranges"), ClusterRanges.Select(r => r.ToString()));
        if (!Directory.Exists($"/sys/class/net/{BridgeName}"))
        {
            await IpAsync(["link", "add", BridgeName, "type", "bridge"], ct).ConfigureAwait(false);
        }
        await IpAsync(["addr", "replace", $"{Gateway}/{_podRange.PrefixLength}", "dev", BridgeName], ct).ConfigureAwait(false);
        await IpAsync(["link", "set", BridgeName, "up"], ct).ConfigureAwait(false);
        foreach (var range in ClusterRanges)
        {
            // Added once per machine; a route another cluster on this machine added already serves.
            await IpAsync(["route", "replace", "unreachable", range.ToString(), "metric", UnreachableMetric], ct).ConfigureAwait(false);
        }
    }

    /// <summary>The bridge plugin's network configuration (with host-local addresses from the node's range).</summary>
    private string BridgeConfig => new JsonObject
    {
        ["cniVersion"] = "1.0.0",
        ["name"] = "tugboat",
        ["type"] = "bridge",
        ["bridge"] = BridgeName,
        ["isGateway"] = false,
        ["ipMasq"] = false,
        ["hairpinMode"] = true,
        ["ipam"] = new JsonObject
        {
            ["type"] = "host-local",
            ["ranges"] = new JsonArray(new JsonArray(new JsonObject { ["subnet"] = _podRange.ToString(), ["gateway"] = Gateway.ToString() })),
            ["routes"] = new JsonArray(ClusterRanges.Where(r => !r.Contains(Gateway)).Select(r => (JsonNode?)new JsonObject { ["dst"] = r.ToString(), ["gw"] = Gateway.ToString() }).ToArray()),
            ["dataDir"] = Path.Combine(_stateDir, "ipam"),
        },
    }.ToJsonString();

    /// <summary>
    /// The same network as a CNI configuration list for a container runtime that runs the plugins itself (containerd's
    /// CRI): the bridge with this node's addresses (same name and address store, so pods of both kinds never share an
    /// address), then portmap for hostPorts.
    /// </summary>
    public string Conflist()
    {
        var bridge = JsonNode.Parse(BridgeConfig)!.AsObject();
        bridge.Remove("cniVersion");
        bridge.Remove("name");
        return new JsonObject
        {
            ["cniVersion"] = "1.0.0",
            ["name"] = "tugboat",
            ["plugins"] = new JsonArray(bridge, new JsonObject { ["type"] = "portmap", ["capabilities"] = new JsonObject { ["portMappings"] = true } }),
        }.ToJsonString();
    }

    /// <summary>The cluster ranges an agent with state in <paramref name="stateDir"/> made unreachable, or the defaults.</summary>
    public static IReadOnlyList<IPNetwork> SavedClusterRanges(string stateDir) =>
        File.Exists(Path.Combine(stateDir, "cluster-ranges"))
            ? File.ReadAllLines(Path.Combine(stateDir, "cluster-ranges")).Where(l => l.Length > 0).Select(l => IPNetwork.Parse(l)).ToList()
            : [IPNetwork.Parse("10.42.0.0/16"), IPNetwork.Parse("10.43.0.0/16")];

    public static string NamespaceName(string podUid) => "tug-" + podUid;

    public static string NamespacePath(string podUid) => "/var/run/netns/" + NamespaceName(podUid);

    /// <summary>
    /// The pod's network namespace with its address, created and wired if it does not exist yet (idempotent: a
    /// restarted agent gets the address the pod already has).
    /// </summary>
    public async Task<IPAddress> SetUpAsync(string podUid, CancellationToken ct)
    {
        var state = Path.Combine(_stateDir, "pods", podUid);
        if (File.Exists(NamespacePath(podUid)) && File.Exists(state) && IPAddress.TryParse(File.ReadAllText(state).Trim(), out var known))
        {
            return known;
        }
        await EnsureBridgeAsync(ct).ConfigureAwait(false);
        if (!File.Exists(NamespacePath(podUid)))
        {
            await IpAsync(["netns", "add", NamespaceName(podUid)], ct).ConfigureAwait(false);
        }
        await PluginAsync("loopback", "ADD", podUid, "lo", """{"cniVersion":"1.0.0","name":"lo","type":"loopback"}""", ct).ConfigureAwait(false);
        var result = await PluginAsync("bridge", "ADD", podUid, "eth0", BridgeConfig, ct).ConfigureAwait(false);
        var address = result["ips"]?.AsArray().Select(i => i?["address"]?.GetValue<string>()).FirstOrDefault(a => a is not null)
            ?? throw new InvalidOperationException("the bridge plugin returned no address: " + result.ToJsonString());
        var ip = IPAddress.Parse(address.Split('/')[0]);
        Directory.CreateDirectory(Path.GetDirectoryName(state)!);
        File.WriteAllText(state, ip.ToString());
        return ip;
    }

    /// <summary>Releases the pod's address and removes its namespace; nothing happens for a pod that has none.</summary>
    public async Task TearDownAsync(string podUid, CancellationToken ct)
    {
        var state = Path.Combine(_stateDir, "pods", podUid);
        if (File.Exists(NamespacePath(podUid)))
        {
            try
            {
                await PluginAsync("bridge", "DEL", podUid, "eth0", BridgeConfig, ct).ConfigureAwait(false);
            }
            catch (InvalidOperationException)
            {
                // DEL is best effort: the namespace goes below, and host-local's reservation is released by uid next.
            }
            await IpAsync(["netns", "del", NamespaceName(podUid)], ct).ConfigureAwait(false);
        }
        ReleaseReservations(podUid);
        if (File.Exists(state))
        {
            File.Delete(state);
        }
    }

    /// <summary>
    /// Removes pod namespaces (named as this agent names them) whose address lies in this node's pod range but that
    /// no recorded pod owns: an agent stopped between creating a namespace and recording its address leaves one.
    /// Namespaces without an address, or with one elsewhere (another node's range on this machine), are left alone.
    /// </summary>
    public async Task RemoveStrayNamespacesAsync(CancellationToken ct)
    {
        if (!Directory.Exists("/var/run/netns"))
        {
            return;
        }
        var known = KnownPods().ToHashSet(StringComparer.Ordinal);
        foreach (var name in Directory.GetFiles("/var/run/netns", "tug-*").Select(Path.GetFileName).OfType<string>())
        {
            var uid = name[4..];
            if (known.Contains(uid))
            {
                continue;
            }
            string addresses;
            try
            {
                addresses = await HostCommand.OutputAsync("ip", ["-n", name, "-4", "-o", "addr", "show"], ct).ConfigureAwait(false);
            }
            catch (InvalidOperationException)
            {
                continue;
            }
            var mine = addresses.Split((char[])[' ', '\n'], StringSplitOptions.RemoveEmptyEntries)
                .Select(t => IPAddress.TryParse(t.Split('/')[0], out var a) && t.Contains('/') ? a : null)
                .Any(a => a is not null && _podRange.Contains(a));
            if (mine)
            {
                await TearDownAsync(uid, ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>host-local keeps one file per address holding the container ID; removes those of <paramref name="podUid"/>.</summary>
    private void ReleaseReservations(string podUid)
    {
        var dir = Path.Combine(_stateDir, "ipam", "tugboat");
        if (!Directory.Exists(dir))
        {
            return;
        }
        foreach (var file in Directory.GetFiles(dir))
        {
            try
            {
                if (File.ReadAllLines(file).FirstOrDefault()?.Trim() == podUid)
                {
                    File.Delete(file);
                }
            }
            catch (IOException)
            {
            }
        }
    }

    /// <summary>The pods that have a namespace on this node (for cleaning up after pods that are gone).</summary>
    public IReadOnlyList<string> KnownPods() =>
        Directory.Exists(Path.Combine(_stateDir, "pods")) ? Directory.GetFiles(Path.Combine(_stateDir, "pods")).Select(Path.GetFileName).OfType<string>().ToList() : [];

    /// <summary>
    /// Lets the node proxy services: a route sends the host's traffic for <paramref name="serviceRange"/> through the
    /// bridge (its source is the gateway, and the proxy's rules rewrite its destination), the bridge forwards what
    /// pods send to the cluster (forwarding on the bridge alone: the machine's other interfaces are left as they are,
    /// and the proxy's rules drop anything the bridge would forward elsewhere), and 127.0.0.1 may be rewritten to a pod
    /// (route_localnet on the bridge alone), so that node ports answer on the loopback address.
    /// </summary>
    public async Task EnableServicesAsync(IPNetwork serviceRange, CancellationToken ct)
    {
        await DeleteLocalRouteAsync(serviceRange, ct).ConfigureAwait(false);
        await IpAsync(["route", "replace", serviceRange.ToString(), "dev", BridgeName, "src", Gateway.ToString()], ct).ConfigureAwait(false);
        foreach (var setting in (string[])["forwarding", "route_localnet"])
        {
            await File.WriteAllTextAsync($"/proc/sys/net/ipv4/conf/{BridgeName}/{setting}", "1", ct).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Lets the userspace proxy serve <paramref name="serviceRange"/>: the whole range becomes local to the machine
    /// (a <c>local</c> route in the local table, as for AnyIP), so that its sockets can bind cluster IPs and what pods
    /// send there ends on the node; nothing is forwarded. A kernel-path table left from an earlier run is removed.
    /// </summary>
    public async Task EnableUserspaceServicesAsync(IPNetwork serviceRange, CancellationToken ct)
    {
        if (HasNftables())
        {
            try
            {
                await NftAsync(Proxy.NftRuleset.Delete(BridgeName), ct).ConfigureAwait(false);
            }
            catch (InvalidOperationException)
            {
            }
        }
        await IpAsync(["route", "replace", "local", serviceRange.ToString(), "dev", "lo", "table", "local"], ct).ConfigureAwait(false);
    }

    private async Task DeleteLocalRouteAsync(IPNetwork serviceRange, CancellationToken ct)
    {
        try
        {
            await IpAsync(["route", "del", "local", serviceRange.ToString(), "dev", "lo", "table", "local"], ct).ConfigureAwait(false);
        }
        catch (InvalidOperationException)
        {
            // None (the usual case).
        }
    }

    /// <summary>Applies an nft script (the service proxy's table, named as the bridge).</summary>
    public static Task NftAsync(string script, CancellationToken ct) => HostCommand.RunAsync("nft", ["-f", "-"], ct, script);

    /// <summary>
    /// The clients in the affinity sets (<c>aff-*</c>) of a proxy table and the seconds each has left; empty when the
    /// table or its sets are not there.
    /// </summary>
    public static async Task<Dictionary<string, IReadOnlyList<(string Ip, long ExpiresSeconds)>>> AffinityOfAsync(string table, CancellationToken ct)
    {
        var result = new Dictionary<string, IReadOnlyList<(string Ip, long ExpiresSeconds)>>(StringComparer.Ordinal);
        string json;
        try
        {
            json = await HostCommand.OutputAsync("nft", ["-j", "list", "sets", "table", "ip", table], ct).ConfigureAwait(false);
        }
        catch (InvalidOperationException)
        {
            return result;
        }
        foreach (var item in System.Text.Json.Nodes.JsonNode.Parse(json)?["nftables"]?.AsArray() ?? [])
        {
            if (item?["set"] is not System.Text.Json.Nodes.JsonObject set || set["name"]?.GetValue<string>() is not { } name || !name.StartsWith("aff-", StringComparison.Ordinal))
            {
                continue;
            }
            var clients = new List<(string, long)>();
            foreach (var element in set["elem"]?.AsArray() ?? [])
            {
                if (element?["elem"]?["val"]?.GetValue<string>() is { } ip && element["elem"]?["expires"]?.GetValue<long>() is { } expires and > 0)
                {
                    clients.Add((ip, expires));
                }
            }
            result[name] = clients;
        }
        return result;
    }

    /// <summary>True when this machine has the conntrack tool (Debian package conntrack).</summary>
    public static bool HasConntrack() => HasTool("conntrack");

    /// <summary>Deletes the connection-tracking entries matching a conntrack(8) filter; none matching is not an error.</summary>
    public static async Task ConntrackDeleteAsync(IReadOnlyList<string> filter, CancellationToken ct)
    {
        try
        {
            await HostCommand.RunAsync("conntrack", ["-D", .. filter], ct).ConfigureAwait(false);
        }
        catch (InvalidOperationException)
        {
            // conntrack exits 1 when no entry matched.
        }
    }

    /// <summary>True when this machine has the nft tool.</summary>
    public static bool HasNftables() => HasTool("nft");

    private static bool HasTool(string name) => ((string[])["/usr/sbin", "/sbin", "/usr/bin"]).Any(dir => File.Exists(Path.Combine(dir, name)));

    /// <summary>Removes the bridge, its service proxy table and the unreachable routes (when no pod is left on this node).</summary>
    public async Task TeardownAsync(CancellationToken ct)
    {
        if (HasNftables())
        {
            try
            {
                await NftAsync(Proxy.NftRuleset.Delete(BridgeName), ct).ConfigureAwait(false);
            }
            catch (InvalidOperationException)
            {
            }
        }
        if (Directory.Exists($"/sys/class/net/{BridgeName}"))
        {
            await IpAsync(["link", "del", BridgeName], ct).ConfigureAwait(false);
        }
        // A range's unreachable route stays while another Tugboat bridge on this machine needs it: one whose pods live
        // in it, or, for ranges without pods (services), any other bridge at all.
        var others = Directory.GetDirectories("/sys/class/net").Select(Path.GetFileName).OfType<string>()
            .Where(n => n.Length == 9 && n.StartsWith("tug", StringComparison.Ordinal)).Select(GatewayOf).OfType<IPAddress>().ToList();
        foreach (var range in ClusterRanges.Where(r => !r.Contains(Gateway)))
        {
            await DeleteLocalRouteAsync(range, ct).ConfigureAwait(false);
        }
        foreach (var range in ClusterRanges)
        {
            // A service range (no pods in it) is in use while another node on this machine still serves it.
            var inUse = others.Any(range.Contains) || (!range.Contains(Gateway) && others.Count > 0 && await ServedElsewhereAsync(range, ct).ConfigureAwait(false));
            if (inUse)
            {
                continue;
            }
            try
            {
                await IpAsync(["route", "del", "unreachable", range.ToString(), "metric", UnreachableMetric], ct).ConfigureAwait(false);
            }
            catch (InvalidOperationException)
            {
            }
        }
    }

    /// <summary>Whether another node's service proxy on this machine serves <paramref name="range"/> (a route through a Tugboat bridge, or a local route).</summary>
    private static async Task<bool> ServedElsewhereAsync(IPNetwork range, CancellationToken ct)
    {
        try
        {
            var main = await HostCommand.OutputAsync("ip", ["-o", "route", "show", "exact", range.ToString()], ct).ConfigureAwait(false);
            var local = await HostCommand.OutputAsync("ip", ["-o", "route", "show", "table", "local", "exact", range.ToString()], ct).ConfigureAwait(false);
            return main.Split('\n').Any(l => l.Contains(" dev tug", StringComparison.Ordinal)) || local.Trim().Length > 0;
        }
        catch (InvalidOperationException)
        {
            return true;
        }
    }

    /// <summary>The gateway of a bridge named as <see cref="BridgeName"/> names them (tug + the /24's first three octets in hex).</summary>
    private static IPAddress? GatewayOf(string bridge) =>
        byte.TryParse(bridge.AsSpan(3, 2), System.Globalization.NumberStyles.HexNumber, null, out var a)
        && byte.TryParse(bridge.AsSpan(5, 2), System.Globalization.NumberStyles.HexNumber, null, out var b)
        && byte.TryParse(bridge.AsSpan(7, 2), System.Globalization.NumberStyles.HexNumber, null, out var c)
            ? new IPAddress([a, b, c, 1])
            : null;

    private async Task<JsonObject> PluginAsync(string plugin, string command, string podUid, string ifname, string config, CancellationToken ct)
    {
        var psi = new ProcessStartInfo(Path.Combine(PluginDir, plugin))
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.Environment["CNI_COMMAND"] = command;
        psi.Environment["CNI_CONTAINERID"] = podUid;
        psi.Environment["CNI_NETNS"] = NamespacePath(podUid);
        psi.Environment["CNI_IFNAME"] = ifname;
        psi.Environment["CNI_PATH"] = PluginDir;
        using var process = Process.Start(psi)!;
        await process.StandardInput.WriteAsync(config).ConfigureAwait(false);
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct).ConfigureAwait(false);
        var output = await stdout.ConfigureAwait(false);
        if (process.ExitCode != 0)
        {
            // CNI errors are a JSON object with msg and details on stdout.
            var message = output.Length > 0 && JsonNode.Parse(output) is JsonObject error ? $"{error["msg"]}{(error["details"] is { } d ? ": " + d : string.Empty)}" : await stderr.ConfigureAwait(false);
            throw new InvalidOperationException($"CNI plugin {plugin} {command} failed: {message.Trim()}");
        }
        return output.Length > 0 ? JsonNode.Parse(output)!.AsObject() : [];
    }

    private static Task IpAsync(string[] args, CancellationToken ct) => HostCommand.RunAsync("ip", args, ct);
}
