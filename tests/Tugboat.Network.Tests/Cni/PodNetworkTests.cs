using System.Net;
using Tugboat.Network.Cni;

namespace Tugboat.Network.Tests.Cni;

/// <summary>Clean-up of pod namespaces an interrupted agent left behind (needs root, as .ci/run runs the suite).</summary>
public sealed class PodNetworkTests : IDisposable
{
    private readonly string _state = Directory.CreateTempSubdirectory("tug-podnet-").FullName;
    private readonly string _mine = "tug-" + Guid.NewGuid();
    private readonly string _other = "tug-" + Guid.NewGuid();
    private readonly string _bare = "tug-" + Guid.NewGuid();

    public void Dispose()
    {
        foreach (var ns in new[] { _mine, _other, _bare })
        {
            if (File.Exists("/var/run/netns/" + ns))
            {
                HostCommand.RunAsync("ip", ["netns", "del", ns], CancellationToken.None).GetAwaiter().GetResult();
            }
        }
        Directory.Delete(_state, recursive: true);
    }

    private static async Task NamespaceWithAddressAsync(string name, string? address)
    {
        await HostCommand.RunAsync("ip", ["netns", "add", name], CancellationToken.None);
        if (address is not null)
        {
            // On the namespace's loopback: an address is all the clean-up looks at.
            await HostCommand.RunAsync("ip", ["-n", name, "addr", "add", address, "dev", "lo"], CancellationToken.None);
        }
    }

    [Fact]
    public async Task StrayNamespacesInTheNodesRangeAreRemovedAndOthersLeftAlone()
    {
        Assert.True(Environment.UserName == "root" && PodNetwork.FindPlugins() is not null, "root and the CNI plugins (containernetworking-plugins) are required; .ci/run installs them and runs as root");
        await NamespaceWithAddressAsync(_mine, "10.42.254.7/24");
        await NamespaceWithAddressAsync(_other, "10.42.253.7/24");
        await NamespaceWithAddressAsync(_bare, null);
        var network = new PodNetwork(_state, PodNetwork.FindPlugins()!, IPNetwork.Parse("10.42.254.0/24"), [IPNetwork.Parse("10.42.0.0/16")]);

        await network.RemoveStrayNamespacesAsync(CancellationToken.None);

        Assert.False(File.Exists("/var/run/netns/" + _mine));
        // Another node's range, and a namespace still being set up (no address yet), are not this node's to remove.
        Assert.True(File.Exists("/var/run/netns/" + _other));
        Assert.True(File.Exists("/var/run/netns/" + _bare));
    }
}
