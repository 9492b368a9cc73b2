using System.Diagnostics;
using System.Net;
using Tugboat.Network.Proxy;

namespace Tugboat.Network.Tests.Proxy;

public sealed class NftRulesetTests
{
    private static NftRuleset Ruleset(params ProxyPort[] ports) => new()
    {
        Table = "tug0a2aff",
        Bridge = "tug0a2aff",
        PodRange = IPNetwork.Parse("10.42.255.0/24"),
        ServiceRanges = [IPNetwork.Parse("10.43.255.0/24")],
        Dns = (IPAddress.Parse("10.43.255.10"), IPAddress.Parse("10.42.255.1")),
        Ports = ports,
    };

    private static readonly ProxyPort Web = new()
    {
        Namespace = "default",
        Service = "web",
        PortName = "http",
        Protocol = "TCP",
        Port = 80,
        ClusterIps = ["10.43.255.20"],
        NodePort = 30080,
        ExternalIps = ["127.0.0.1"],
        ClusterEndpoints = [new("10.42.255.2", 8080, "a"), new("10.42.255.3", 8080, "b")],
        ExternalEndpoints = [new("10.42.255.2", 8080, "a")],
        AffinitySeconds = 60,
    };

    private static readonly ProxyPort Dns = new()
    {
        Namespace = "default",
        Service = "dns",
        PortName = "dns",
        Protocol = "UDP",
        Port = 53,
        ClusterIps = ["10.43.255.21"],
        ClusterEndpoints = [new("10.42.255.4", 5353, "a")],
    };

    private static readonly ProxyPort Empty = Web with { Service = "empty", ClusterIps = ["10.43.255.22"], NodePort = 30081, ExternalIps = [], ClusterEndpoints = [], ExternalEndpoints = [] };

    [Fact]
    public void EachPortJumpsToABalancingChainThatRewritesToItsEndpoints()
    {
        var script = Ruleset(Web, Dns, Empty).Render();
        Assert.StartsWith("table ip tug0a2aff {\n}\ndelete table ip tug0a2aff\ntable ip tug0a2aff {", script, StringComparison.Ordinal);
        Assert.Contains("10.43.255.20 . tcp . 80 : jump svc-0", script, StringComparison.Ordinal);
        Assert.Contains("127.0.0.1 . tcp . 80 : jump ext-0", script, StringComparison.Ordinal);
        Assert.Contains("tcp . 30080 : jump ext-0", script, StringComparison.Ordinal);
        Assert.Contains("numgen random mod 2 vmap { 0 : jump ep-0-0, 1 : jump ep-0-1 }", script, StringComparison.Ordinal);
        Assert.Contains("meta l4proto tcp dnat to 10.42.255.2:8080", script, StringComparison.Ordinal);
        Assert.Contains("meta l4proto udp dnat to 10.42.255.4:5353", script, StringComparison.Ordinal);
        Assert.Contains("10.43.255.21 . udp . 53 : jump svc-1", script, StringComparison.Ordinal);
        // Affinity: a timed set per endpoint, checked before the random pick and refreshed on each new connection.
        Assert.Contains("timeout 60s", script, StringComparison.Ordinal);
        var set = NftRuleset.AffinitySet(Web, Web.ClusterEndpoints[0]);
        Assert.Matches("^aff-[0-9a-f]{16}$", set);
        Assert.Contains($"ip saddr @{set} jump ep-0-0", script, StringComparison.Ordinal);
        Assert.Contains($"update @{set} {{ ip saddr }}", script, StringComparison.Ordinal);
        // The local-only external chain has only the local endpoint.
        Assert.Contains($"chain ext-0 {{\n    ip saddr @{set} jump ep-0-0\n    jump ep-0-0\n  }}", script, StringComparison.Ordinal);
        // A port without endpoints gets no entry: its address stays in the service range and is rejected.
        Assert.DoesNotContain("10.43.255.22", script, StringComparison.Ordinal);
        Assert.DoesNotContain("30081", script, StringComparison.Ordinal);
        Assert.Contains("ip daddr 10.43.255.0/24 meta l4proto tcp reject with tcp reset", script, StringComparison.Ordinal);
        Assert.Contains("ip daddr 10.43.255.10 meta l4proto { tcp, udp } th dport 53 dnat to 10.42.255.1", script, StringComparison.Ordinal);
        Assert.Contains("iifname \"tug0a2aff\" oifname != \"tug*\" drop", script, StringComparison.Ordinal);
    }

    [Fact]
    public void StickyClientsAreCarriedOverByStableSetNames()
    {
        var set = NftRuleset.AffinitySet(Web, Web.ClusterEndpoints[1]);
        // The name follows the service port and the endpoint, not their place in the table.
        Assert.Equal(set, NftRuleset.AffinitySet(Web with { ClusterIps = ["10.43.255.30"] }, Web.ClusterEndpoints[1]));
        Assert.NotEqual(set, NftRuleset.AffinitySet(Web with { Service = "other" }, Web.ClusterEndpoints[1]));
        var script = (Ruleset(Dns, Web) with { Affinity = new Dictionary<string, IReadOnlyList<(string, long)>> { [set] = [("10.42.255.9", 30), ("10.42.255.10", 999_999)] } }).Render();
        // Carried with the time left, never beyond the service's timeout.
        Assert.Contains($"set {set} {{\n    type ipv4_addr\n    flags dynamic,timeout\n    timeout 60s\n    elements = {{ 10.42.255.9 expires 30s, 10.42.255.10 expires 60s }}\n  }}", script, StringComparison.Ordinal);
    }

    [Fact]
    public void TheKernelAcceptsTheScript()
    {
        if (!File.Exists("/usr/sbin/nft") || Environment.UserName != "root")
        {
            Assert.Fail("nftables (Debian package nftables) and root are required; .ci/run installs it and runs as root");
        }
        var sticky = Ruleset(Web, Dns, Empty) with { Affinity = new Dictionary<string, IReadOnlyList<(string, long)>> { [NftRuleset.AffinitySet(Web, Web.ClusterEndpoints[0])] = [("10.42.255.9", 30)] } };
        foreach (var script in new[] { Ruleset(Web, Dns, Empty).Render(), Ruleset().Render(), NftRuleset.Delete("tug0a2aff"), sticky.Render() })
        {
            // --check: the whole transaction is evaluated by the kernel and then discarded.
            var psi = new ProcessStartInfo("nft", "--check -f -") { RedirectStandardInput = true, RedirectStandardError = true, UseShellExecute = false };
            using var nft = Process.Start(psi)!;
            nft.StandardInput.Write(script);
            nft.StandardInput.Close();
            var error = nft.StandardError.ReadToEnd();
            nft.WaitForExit();
            Assert.True(nft.ExitCode == 0, error + "\n" + script);
        }
    }
}
