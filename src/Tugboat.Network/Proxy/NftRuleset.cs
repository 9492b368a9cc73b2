using System.Net;
using System.Text;

namespace Tugboat.Network.Proxy;

/// <summary>
/// Renders a node's service proxy as one nftables table, replaced whole in one transaction (<c>nft -f</c>), in the
/// manner of kube-proxy's nftables mode: destination NAT to a random ready endpoint on the first packet of each
/// connection, conntrack for the rest.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>Pods of this node (traffic arriving on its bridge) and the host itself (output) are proxied. The host reaches
/// the service range through a route via the bridge (see <see cref="Cni.PodNetwork.EnableServicesAsync"/>), so its connections get
/// a source on the bridge; connections from the host's other addresses (127.0.0.1 to a node port, say) and a pod
/// reaching itself through a service (hairpin) are masqueraded to the bridge's address so replies come back through
/// conntrack.</item>
/// <item>Node ports answer on every local address (127.0.0.1 included); load balancer and external IPs on the
/// service port; the cluster DNS address is sent to the node's DNS server.</item>
/// <item>Anything still addressed to the service range after NAT (an unknown address, a port without ready
/// endpoints) is rejected at once (TCP reset, else ICMP port unreachable), as kube-proxy does.</item>
/// <item>Safety: packets from the bridge may only be forwarded to Tugboat bridges, never out of the machine.</item>
/// </list>
/// </remarks>
public sealed record NftRuleset
{
    /// <summary>The packet mark bit that asks for masquerading (kube-proxy uses 0x4000; this one is Tugboat's own).</summary>
    public const string MasqueradeMark = "0x10000000";

    public required string Table { get; init; }

    public required string Bridge { get; init; }

    /// <summary>This node's pod range (pods on the bridge).</summary>
    public required IPNetwork PodRange { get; init; }

    public required IReadOnlyList<IPNetwork> ServiceRanges { get; init; }

    /// <summary>The cluster DNS service address and the node-local address its server listens on (port 53), or null.</summary>
    public (IPAddress Service, IPAddress Server)? Dns { get; init; }

    public IReadOnlyList<ProxyPort> Ports { get; init; } = [];

    /// <summary>
    /// Client addresses to keep in the affinity sets, by set name, with the seconds their stickiness has left (read
    /// from the table being replaced), so that rewriting the table does not forget ClientIP affinity.
    /// </summary>
    public IReadOnlyDictionary<string, IReadOnlyList<(string Ip, long ExpiresSeconds)>> Affinity { get; init; } =
        new Dictionary<string, IReadOnlyList<(string Ip, long ExpiresSeconds)>>();

    /// <summary>
    /// The name of the affinity set of one endpoint of one service port: stable across rewrites (a hash of the port
    /// and the endpoint), so that its clients can be carried over.
    /// </summary>
    public static string AffinitySet(ProxyPort port, ProxyEndpoint endpoint)
    {
        var key = $"{port.Namespace}/{port.Service}/{port.PortName}/{port.Protocol}/{endpoint.Ip}:{endpoint.Port}";
        return "aff-" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(key)), 0, 8);
    }

    /// <summary>The nft script that replaces the table with this ruleset.</summary>
    public string Render()
    {
        var sb = new StringBuilder();
        // Declaring then deleting makes the script work whether or not the table exists; nft applies it atomically.
        sb.Append("table ip ").Append(Table).Append(" {\n}\ndelete table ip ").Append(Table).Append('\n');
        sb.Append("table ip ").Append(Table).Append(" {\n");
        var clusterEntries = new List<string>();
        var nodePortEntries = new List<string>();
        var chains = new StringBuilder();
        for (var i = 0; i < Ports.Count; i++)
        {
            var port = Ports[i];
            var proto = port.Protocol.ToLowerInvariant();
            var all = port.ClusterEndpoints.Concat(port.ExternalEndpoints).Distinct().ToList();
            for (var j = 0; j < all.Count; j++)
            {
                var ep = all[j];
                var set = AffinitySet(port, ep);
                if (port.AffinitySeconds > 0)
                {
                    sb.Append($"  set {set} {{\n    type ipv4_addr\n    flags dynamic,timeout\n    timeout {port.AffinitySeconds}s\n");
                    if (Affinity.TryGetValue(set, out var clients) && clients.Count > 0)
                    {
                        sb.Append("    elements = { ").AppendJoin(", ", clients.Select(c => $"{c.Ip} expires {Math.Clamp(c.ExpiresSeconds, 1, port.AffinitySeconds)}s")).Append(" }\n");
                    }
                    sb.Append("  }\n");
                }
                chains.Append($"  chain ep-{i}-{j} {{\n");
                chains.Append($"    ip saddr {ep.Ip} meta mark set meta mark | {MasqueradeMark}\n");
                if (port.AffinitySeconds > 0)
                {
                    chains.Append($"    update @{set} {{ ip saddr }}\n");
                }
                chains.Append($"    meta l4proto {proto} dnat to {ep.Ip}:{ep.Port}\n  }}\n");
            }
            if (port.ClusterEndpoints.Count > 0)
            {
                Balance(chains, $"svc-{i}", i, port, port.ClusterEndpoints, all);
                foreach (var ip in port.ClusterIps)
                {
                    clusterEntries.Add($"{ip} . {proto} . {port.Port} : jump svc-{i}");
                }
            }
            if (port.ExternalEndpoints.Count > 0 && (port.NodePort > 0 || port.ExternalIps.Count > 0))
            {
                Balance(chains, $"ext-{i}", i, port, port.ExternalEndpoints, all);
                foreach (var ip in port.ExternalIps)
                {
                    clusterEntries.Add($"{ip} . {proto} . {port.Port} : jump ext-{i}");
                }
                if (port.NodePort > 0)
                {
                    nodePortEntries.Add($"{proto} . {port.NodePort} : jump ext-{i}");
                }
            }
        }
        sb.Append("  chain services {\n");
        if (Dns is { } dns)
        {
            sb.Append($"    ip daddr {dns.Service} meta l4proto {{ tcp, udp }} th dport 53 dnat to {dns.Server}\n");
        }
        if (clusterEntries.Count > 0)
        {
            sb.Append("    ip daddr . meta l4proto . th dport vmap {\n      ").AppendJoin(",\n      ", clusterEntries.Distinct()).Append("\n    }\n");
        }
        if (nodePortEntries.Count > 0)
        {
            sb.Append("    fib daddr type local meta l4proto . th dport vmap {\n      ").AppendJoin(",\n      ", nodePortEntries.Distinct()).Append("\n    }\n");
        }
        sb.Append("  }\n");
        sb.Append(chains);
        sb.Append($"  chain prerouting {{\n    type nat hook prerouting priority dstnat; policy accept;\n    iifname \"{Bridge}\" jump services\n  }}\n");
        sb.Append("  chain output {\n    type nat hook output priority -100; policy accept;\n    jump services\n  }\n");
        sb.Append("  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n");
        sb.Append($"    meta mark & {MasqueradeMark} == {MasqueradeMark} masquerade\n");
        sb.Append($"    ct status dnat oifname \"{Bridge}\" ip saddr != {PodRange} masquerade\n  }}\n");
        sb.Append($"  chain forward {{\n    type filter hook forward priority filter; policy accept;\n    iifname \"{Bridge}\" oifname != \"tug*\" drop\n");
        Reject(sb);
        sb.Append("  }\n");
        sb.Append("  chain filter-output {\n    type filter hook output priority filter; policy accept;\n");
        Reject(sb);
        sb.Append("  }\n}\n");
        return sb.ToString();
    }

    /// <summary>A chain that picks one of <paramref name="endpoints"/>: the client's sticky one, else a random one.</summary>
    private static void Balance(StringBuilder chains, string chain, int i, ProxyPort port, IReadOnlyList<ProxyEndpoint> endpoints, List<ProxyEndpoint> all)
    {
        chains.Append($"  chain {chain} {{\n");
        var indexes = endpoints.Select(e => all.IndexOf(e)).ToList();
        if (port.AffinitySeconds > 0)
        {
            foreach (var j in indexes)
            {
                chains.Append($"    ip saddr @{AffinitySet(port, all[j])} jump ep-{i}-{j}\n");
            }
        }
        if (indexes.Count == 1)
        {
            chains.Append($"    jump ep-{i}-{indexes[0]}\n");
        }
        else
        {
            chains.Append($"    numgen random mod {indexes.Count} vmap {{ ")
                .AppendJoin(", ", indexes.Select((j, n) => $"{n} : jump ep-{i}-{j}")).Append(" }\n");
        }
        chains.Append("  }\n");
    }

    private void Reject(StringBuilder sb)
    {
        foreach (var range in ServiceRanges)
        {
            sb.Append($"    ip daddr {range} meta l4proto tcp reject with tcp reset\n");
            sb.Append($"    ip daddr {range} reject\n");
        }
    }

    /// <summary>The script that removes the table (nothing happens when it is not there).</summary>
    public static string Delete(string table) => $"table ip {table} {{\n}}\ndelete table ip {table}\n";
}
