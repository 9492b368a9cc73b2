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

    [Theory]
    [MemberData(nameof(Kubectl.Versions), MemberType = typeof(Kubectl))]
    public async Task ClientSideApplyNullsReordersPrunesKustomizeReplaceAndSetEnv(string version)
    {
        var k = new Kubectl(version, fixture.Server.Kubeconfig);
        var ns = "csa-" + version[^4..].Replace(".", string.Empty);
        (await k.RunAsync("create", "namespace", ns)).Ok();
        var withDelay = V1.Replace("  replicas: 2\n", "  replicas: 2\n  minReadySeconds: 5\n", StringComparison.Ordinal);
        (await k.RunWithInputAsync(withDelay, "apply", "-n", ns, "-f", "-")).Ok();
        Assert.Equal(5, (await GetAsync(k, ns))["spec"]!["minReadySeconds"]!.GetValue<int>());

        // A field set to null is removed; list items given in another order are stored in that order.
        var reordered = """
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: app, labels: {app: app}}
            spec:
              replicas: 2
              minReadySeconds: null
              selector: {matchLabels: {app: app}}
              template:
                metadata: {labels: {app: app}}
                spec:
                  containers:
                  - name: side
                    image: busybox
                  - name: web
                    image: nginx:1.25
                    env: [{name: B, value: "2"}, {name: A, value: "1"}]
                    ports: [{containerPort: 80}]
            """;
        Assert.Contains("configured", (await k.RunWithInputAsync(reordered, "apply", "-n", ns, "-f", "-")).Ok().Out);
        var d = await GetAsync(k, ns);
        Assert.Null(d["spec"]!["minReadySeconds"]);
        var containers = d["spec"]!["template"]!["spec"]!["containers"]!.AsArray();
        Assert.Equal(["side", "web"], containers.Select(c => c!["name"]!.GetValue<string>()));
        Assert.Equal("""[{"name":"B","value":"2"},{"name":"A","value":"1"}]""", containers[1]!["env"]!.ToJsonString());

        // set env and replace.
        Assert.Contains("env updated", (await k.RunAsync("set", "env", "deploy/app", "-n", ns, "-c", "web", "COLOR=blue")).Ok().Out);
        d = await GetAsync(k, ns);
        Assert.Contains(d["spec"]!["template"]!["spec"]!["containers"]![1]!["env"]!.AsArray(), e => e!["name"]!.GetValue<string>() == "COLOR" && e["value"]!.GetValue<string>() == "blue");
        d["spec"]!["replicas"] = 3;
        Assert.Contains("deployment.apps/app replaced", (await k.RunWithInputAsync(d.ToJsonString(), "replace", "-n", ns, "-f", "-")).Ok().Out);
        Assert.Equal(3, (await GetAsync(k, ns))["spec"]!["replicas"]!.GetValue<int>());

        // --prune deletes what a labelled set of objects no longer contains.
        const string Both = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: one, labels: {set: p}}\ndata: {a: '1'}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: two, labels: {set: p}}\ndata: {b: '2'}\n";
        (await k.RunWithInputAsync(Both, "apply", "-n", ns, "-f", "-")).Ok();
        var pruned = await k.RunWithInputAsync(Both[..Both.IndexOf("---", StringComparison.Ordinal)], "apply", "-n", ns, "--prune", "-l", "set=p", "-f", "-");
        Assert.Contains("configmap/two pruned", pruned.Ok().Out);
        Assert.Contains("NotFound", (await k.RunAsync("get", "configmap", "two", "-n", ns)).Fails().Err);

        // apply -k builds with kustomize first.
        var dir = Directory.CreateTempSubdirectory("kustomize-");
        try
        {
            await File.WriteAllTextAsync(Path.Combine(dir.FullName, "kustomization.yaml"), $"namespace: {ns}\nnamePrefix: k-\ncommonLabels: {{team: blue}}\nresources: [cm.yaml]\nconfigMapGenerator:\n- name: gen\n  literals: [x=1]\n");
            await File.WriteAllTextAsync(Path.Combine(dir.FullName, "cm.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: plain}\ndata: {a: '1'}\n");
            var applied = (await k.RunAsync("apply", "-k", dir.FullName)).Ok().Out;
            Assert.Contains("configmap/k-plain created", applied);
            Assert.Matches("configmap/k-gen-[a-z0-9]+ created", applied);
            Assert.Contains("k-plain", (await k.RunAsync("get", "configmap", "-n", ns, "-l", "team=blue", "-o", "name")).Ok().Out);
            Assert.Contains("unchanged", (await k.RunAsync("apply", "-k", dir.FullName)).Ok().Out);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Theory]
    [MemberData(nameof(Kubectl.Versions), MemberType = typeof(Kubectl))]
    public async Task ServerSideApplyConflictsForceAndOwnership(string version)
    {
        var k = new Kubectl(version, fixture.Server.Kubeconfig);
        var ns = "ssa-" + version[^4..].Replace(".", string.Empty);
        (await k.RunAsync("create", "namespace", ns)).Ok();
        Assert.Contains("deployment.apps/app serverside-applied", (await k.RunWithInputAsync(V1, "apply", "--server-side", "--field-manager=team-a", "-n", ns, "-f", "-")).Ok().Out);
        var d = await GetAsync(k, ns, managedFields: true);
        var entry = Assert.Single(d["metadata"]!["managedFields"]!.AsArray(), e => e!["manager"]!.GetValue<string>() == "team-a")!;
        Assert.Equal("Apply", entry["operation"]!.GetValue<string>());
        Assert.NotNull(entry["fieldsV1"]!["f:spec"]!["f:template"]!["f:spec"]!["f:containers"]!["k:{\"name\":\"web\"}"]!["f:image"]);

        // Another manager changing a field team-a owns is a conflict; nothing is stored.
        var otherImage = V1.Replace("nginx:1.25", "nginx:1.26", StringComparison.Ordinal);
        var conflict = (await k.RunWithInputAsync(otherImage, "apply", "--server-side", "--field-manager=team-b", "-n", ns, "-f", "-")).Fails();
        Assert.Contains("Apply failed with 1 conflict: conflict with \"team-a\": .spec.template.spec.containers[name=\"web\"].image", conflict.Err);
        Assert.Equal("nginx:1.25", (await GetAsync(k, ns))["spec"]!["template"]!["spec"]!["containers"]![0]!["image"]!.GetValue<string>());

        // Applying the same values shares ownership without conflict; forcing takes the field over.
        Assert.Contains("serverside-applied", (await k.RunWithInputAsync(V1, "apply", "--server-side", "--field-manager=team-b", "-n", ns, "-f", "-")).Ok().Out);
        Assert.Contains("serverside-applied", (await k.RunWithInputAsync(otherImage, "apply", "--server-side", "--field-manager=team-b", "--force-conflicts", "-n", ns, "-f", "-")).Ok().Out);
        d = await GetAsync(k, ns, managedFields: true);
        Assert.Equal("nginx:1.26", d["spec"]!["template"]!["spec"]!["containers"]![0]!["image"]!.GetValue<string>());
        var teamA = d["metadata"]!["managedFields"]!.AsArray().Single(e => e!["manager"]!.GetValue<string>() == "team-a")!;
        Assert.Null(teamA["fieldsV1"]!["f:spec"]!["f:template"]!["f:spec"]!["f:containers"]!["k:{\"name\":\"web\"}"]!["f:image"]);

        // Scaling makes kubectl the owner of replicas through the scale subresource.
        (await k.RunAsync("scale", "deploy/app", "-n", ns, "--replicas=5")).Ok();
        var scaled = (await k.RunWithInputAsync(V1.Replace("replicas: 2", "replicas: 3", StringComparison.Ordinal), "apply", "--server-side", "--field-manager=team-a", "-n", ns, "-f", "-")).Fails();
        Assert.Contains("with subresource \"scale\"", scaled.Err);
        Assert.Contains(".spec.replicas", scaled.Err);

        // A manager that stops applying a field it alone owned removes it; dry runs store nothing.
        var noSide = V1[..V1.IndexOf("      - name: side", StringComparison.Ordinal)].Replace("nginx:1.25", "nginx:1.26", StringComparison.Ordinal).Replace("replicas: 2", "replicas: 5", StringComparison.Ordinal);
        (await k.RunWithInputAsync(noSide, "apply", "--server-side", "--field-manager=team-b", "-n", ns, "-f", "-")).Ok();
        (await k.RunWithInputAsync(noSide, "apply", "--server-side", "--field-manager=team-a", "--force-conflicts", "-n", ns, "-f", "-")).Ok();
        Assert.Equal(["web"], (await GetAsync(k, ns))["spec"]!["template"]!["spec"]!["containers"]!.AsArray().Select(c => c!["name"]!.GetValue<string>()));
        var before = (await GetAsync(k, ns))["metadata"]!["resourceVersion"]!.GetValue<string>();
        (await k.RunWithInputAsync(V1.Replace("replicas: 2", "replicas: 9", StringComparison.Ordinal), "apply", "--server-side", "--force-conflicts", "--dry-run=server", "-n", ns, "-f", "-")).Ok();
        Assert.Equal(before, (await GetAsync(k, ns))["metadata"]!["resourceVersion"]!.GetValue<string>());

        // Server-side apply creates objects, including custom resources, and kubectl diff uses it too.
        Assert.Contains("configmap/ssa-cm serverside-applied", (await k.RunWithInputAsync("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ssa-cm}\ndata: {a: '1'}\n", "apply", "--server-side", "-n", ns, "-f", "-")).Ok().Out);
        var diff = await k.RunWithInputAsync("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ssa-cm}\ndata: {a: '2'}\n", "diff", "--server-side", "-n", ns, "-f", "-");
        Assert.Equal(1, diff.ExitCode);
        Assert.Contains("+  a: \"2\"", diff.Out);
    }

    private static async Task<JsonNode> GetAsync(Kubectl k, string ns, bool managedFields = false) =>
        JsonNode.Parse((await k.RunAsync(managedFields ? ["get", "deploy", "app", "-n", ns, "-o", "json", "--show-managed-fields"] : ["get", "deploy", "app", "-n", ns, "-o", "json"])).Ok().Out)!;
}
