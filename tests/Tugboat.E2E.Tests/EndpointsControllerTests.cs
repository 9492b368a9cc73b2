using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Tugboat.E2E.Tests;

/// <summary>Endpoints and EndpointSlices follow Services and their pods; pod status is written through the API as a node agent would.</summary>
public sealed class EndpointsControllerTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    [Fact]
    public async Task ReadyPodsBecomeAddressesAndEndpointsGoWithTheirService()
    {
        var k = new Kubectl(Kubectl.V132, fixture.Server.Kubeconfig);
        const string ns = "endpoints";
        (await k.RunAsync("create", "namespace", ns)).Ok();
        (await k.RunWithInputAsync("""
            apiVersion: v1
            kind: Pod
            metadata: {name: ready, labels: {app: web}}
            spec: {containers: [{name: c, image: nginx, ports: [{name: http, containerPort: 8080}]}]}
            ---
            apiVersion: v1
            kind: Pod
            metadata: {name: starting, labels: {app: web}}
            spec: {containers: [{name: c, image: nginx, ports: [{name: http, containerPort: 8080}]}]}
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: web}
            spec: {selector: {app: web}, ports: [{name: web, port: 80, targetPort: http}]}
            """, "apply", "-n", ns, "-f", "-")).Ok();
        Assert.Matches(@"web\s+<none>", await UntilAsync(k, ns, "endpoints", @"web\s+<none>"));

        using var client = fixture.Server.AdminClient();
        await SetStatusAsync(client, ns, "ready", "10.42.0.5", ready: true);
        await SetStatusAsync(client, ns, "starting", "10.42.0.6", ready: false);
        Assert.Matches(@"web\s+10\.42\.0\.5:8080", await UntilAsync(k, ns, "endpoints", @"web\s+10\.42\.0\.5:8080"));
        var ep = JsonNode.Parse((await k.RunAsync("get", "endpoints", "web", "-n", ns, "-o", "json")).Ok().Out)!;
        Assert.Equal("10.42.0.6", ep["subsets"]![0]!["notReadyAddresses"]![0]!["ip"]!.GetValue<string>());
        Assert.Equal("""[{"name":"web","port":8080,"protocol":"TCP"}]""", ep["subsets"]![0]!["ports"]!.ToJsonString());
        var slice = JsonNode.Parse((await k.RunAsync("get", "endpointslices", "-n", ns, "-l", "kubernetes.io/service-name=web", "-o", "json")).Ok().Out)!["items"]![0]!;
        var conditions = slice["endpoints"]!.AsArray().ToDictionary(e => e!["addresses"]![0]!.GetValue<string>(), e => e!["conditions"]!["ready"]!.GetValue<bool>());
        Assert.Equal(new Dictionary<string, bool> { ["10.42.0.5"] = true, ["10.42.0.6"] = false }, conditions);

        (await k.RunAsync("delete", "service", "web", "-n", ns)).Ok();
        await UntilAsync(k, ns, "endpoints,endpointslices", "^$");
    }

    private static async Task SetStatusAsync(HttpClient client, string ns, string pod, string ip, bool ready)
    {
        // Stands in for a node agent; a merge patch, since the scheduler may write the same status meanwhile.
        var current = new JsonObject();
        current["status"] = new JsonObject
        {
            ["phase"] = "Running",
            ["podIP"] = ip,
            ["podIPs"] = new JsonArray(new JsonObject { ["ip"] = ip }),
            ["conditions"] = new JsonArray(new JsonObject { ["type"] = "Ready", ["status"] = ready ? "True" : "False" }),
        };
        using var response = await client.PatchAsync($"/api/v1/namespaces/{ns}/pods/{pod}/status", new StringContent(current.ToJsonString(), System.Text.Encoding.UTF8, "application/merge-patch+json"));
        response.EnsureSuccessStatusCode();
    }

    private static async Task<string> UntilAsync(Kubectl k, string ns, string resource, string pattern)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        var output = string.Empty;
        while (DateTime.UtcNow < deadline)
        {
            output = (await k.RunAsync("get", resource, "-n", ns, "--no-headers")).Ok().Out.Trim();
            if (System.Text.RegularExpressions.Regex.IsMatch(output, pattern))
            {
                return output;
            }
            await Task.Delay(200);
        }
        Assert.Fail($"{resource} never matched {pattern}:\n{output}");
        return output;
    }
}
