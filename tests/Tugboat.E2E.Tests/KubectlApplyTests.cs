using System.Text.Json.Nodes;

namespace Tugboat.E2E.Tests;

/// <summary>The workflows built on strategic merge patch: apply, edit, patch, set image, rollout restart, diff.</summary>
public sealed class KubectlApplyTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private const string V1 = """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: app, labels: {app: app}}
        spec:
          replicas: 2
          selector: {matchLabels: {app: app}}
          template:
            metadata: {labels: {app: app}}
            spec:
              containers:
              - name: web
                image: nginx:1.25
                env: [{name: A, value: "1"}, {name: B, value: "2"}]
                ports: [{containerPort: 80}]
              - name: side
                image: busybox
        """;

    private const string V2 = """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: app, labels: {app: app}}
        spec:
          replicas: 4
          selector: {matchLabels: {app: app}}
          template:
            metadata: {labels: {app: app}}
            spec:
              containers:
              - name: web
                image: nginx:1.25
                env: [{name: A, value: "1"}, {name: C, value: "3"}]
                ports: [{containerPort: 80}]
        """;

    [Theory]
    [MemberData(nameof(Kubectl.Versions), MemberType = typeof(Kubectl))]
    public async Task ApplyEditPatchSetImageRestartAndDiff(string version)
    {
        var k = new Kubectl(version, fixture.Server.Kubeconfig);
        var ns = "apply-" + version[^4..].Replace(".", string.Empty);
        (await k.RunAsync("create", "namespace", ns)).Ok();
        Assert.Contains("deployment.apps/app created", (await k.RunWithInputAsync(V1, "apply", "-n", ns, "-f", "-")).Ok().Out);
        Assert.Contains("deployment.apps/app configured", (await k.RunWithInputAsync(V2, "apply", "-n", ns, "-f", "-")).Ok().Out);
        Assert.Contains("deployment.apps/app unchanged", (await k.RunWithInputAsync(V2, "apply", "-n", ns, "-f", "-")).Ok().Out);
        var d = await GetAsync(k, ns);
        Assert.Equal(4, d["spec"]!["replicas"]!.GetValue<int>());
        var containers = d["spec"]!["template"]!["spec"]!["containers"]!.AsArray();
        Assert.Equal("web", Assert.Single(containers)!["name"]!.GetValue<string>());
        Assert.Equal("""[{"name":"A","value":"1"},{"name":"C","value":"3"}]""", containers[0]!["env"]!.ToJsonString());

        Assert.Contains("deployment.apps/app patched", (await k.RunAsync("patch", "deploy", "app", "-n", ns, "-p", """{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.26"}]}}}}""")).Ok().Out);
        Assert.Equal("[{\"containerPort\":80,\"protocol\":\"TCP\"}]", (await GetAsync(k, ns))["spec"]!["template"]!["spec"]!["containers"]![0]!["ports"]!.ToJsonString());
        Assert.Contains("image updated", (await k.RunAsync("set", "image", "deploy/app", "-n", ns, "web=nginx:1.27")).Ok().Out);
        Assert.Contains("restarted", (await k.RunAsync("rollout", "restart", "deploy/app", "-n", ns)).Ok().Out);
        d = await GetAsync(k, ns);
        Assert.Equal("nginx:1.27", d["spec"]!["template"]!["spec"]!["containers"]![0]!["image"]!.GetValue<string>());
        Assert.NotNull(d["spec"]!["template"]!["metadata"]!["annotations"]!["kubectl.kubernetes.io/restartedAt"]);

        var edit = await k.RunWithEnvironmentAsync(new() { ["EDITOR"] = "sed -i s/replicas:\\ 4/replicas:\\ 6/" }, "edit", "deploy/app", "-n", ns);
        Assert.Contains("deployment.apps/app edited", edit.Ok().Out);
        Assert.Equal(6, (await GetAsync(k, ns))["spec"]!["replicas"]!.GetValue<int>());

        var diff = await k.RunWithInputAsync(V1, "diff", "-n", ns, "-f", "-");
        Assert.Equal(1, diff.ExitCode);
        Assert.Contains("-  replicas: 6", diff.Out);
        Assert.Contains("+  replicas: 2", diff.Out);
        Assert.Equal(6, (await GetAsync(k, ns))["spec"]!["replicas"]!.GetValue<int>());
    }

    private static async Task<JsonNode> GetAsync(Kubectl k, string ns) =>
        JsonNode.Parse((await k.RunAsync("get", "deploy", "app", "-n", ns, "-o", "json")).Ok().Out)!;
}
