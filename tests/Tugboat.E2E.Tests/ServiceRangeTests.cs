using System.Net;
using System.Text.Json.Nodes;

namespace Tugboat.E2E.Tests;

/// <summary>--service-cidr: cluster IPs come from the configured range, its first address is the API's service.</summary>
public sealed class ServiceRangeTests : IAsyncLifetime
{
    private readonly TugServer _server = new(null, null, false, "--service-cidr", "10.43.128.0/20");

    public Task InitializeAsync() => _server.StartAsync();

    public Task DisposeAsync() => _server.DisposeAsync().AsTask();

    [Fact]
    public async Task ClusterIpsComeFromTheConfiguredRange()
    {
        var k = new Kubectl(Kubectl.V132, _server.Kubeconfig);
        Assert.Equal("10.43.128.1", (await k.RunAsync("get", "service", "kubernetes", "-o", "jsonpath={.spec.clusterIP}")).Ok().Out);
        var range = IPNetwork.Parse("10.43.128.0/20");
        for (var i = 0; i < 5; i++)
        {
            (await k.RunAsync("create", "service", "clusterip", $"web{i}", "--tcp=80:8080")).Ok();
            var ip = IPAddress.Parse((await k.RunAsync("get", "service", $"web{i}", "-o", "jsonpath={.spec.clusterIP}")).Ok().Out);
            Assert.True(range.Contains(ip), $"{ip} is outside {range}");
            // The low sixteenth (256 addresses here) is kept for fixed addresses such as the API's and the DNS service's.
            Assert.True(ip.GetAddressBytes()[2] > 128, $"{ip} was taken from the reserved low part");
        }
        var outside = (await k.RunWithInputAsync("apiVersion: v1\nkind: Service\nmetadata: {name: fixed}\nspec:\n  clusterIP: 10.43.0.5\n  ports: [{port: 80}]\n", "apply", "-f", "-")).Fails();
        Assert.Contains("The range of valid IPs is 10.43.128.0/20", outside.Err, StringComparison.Ordinal);
        (await k.RunWithInputAsync("apiVersion: v1\nkind: Service\nmetadata: {name: dns}\nspec:\n  clusterIP: 10.43.128.10\n  ports: [{port: 53, protocol: UDP}]\n", "apply", "-f", "-")).Ok();
    }
}
