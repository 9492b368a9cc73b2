using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace Tugboat.E2E.Tests;

/// <summary>Places where kubectl used to see a difference from a real cluster: defaults, discovery, names and messages.</summary>
public sealed class FidelityTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private Kubectl K(string version) => new(version, fixture.Server.Kubeconfig);

    private static string Suffix(string version) => version[^4..].Replace(".", string.Empty);

    [Theory]
    [MemberData(nameof(Kubectl.Versions), MemberType = typeof(Kubectl))]
    public async Task PodDefaultsAreUpstreamsAndAReplaceWithTheOriginalManifestWorks(string version)
    {
        var k = K(version);
        var ns = "defaults-" + Suffix(version);
        (await k.RunAsync("create", "namespace", ns)).Ok();
        const string pod = """
            apiVersion: v1
            kind: Pod
            metadata: {name: p}
            spec:
              containers:
              - name: c
                image: busybox:1.36
                command: [sleep, "3600"]
                resources: {limits: {cpu: 200m, memory: 64Mi}}
                env:
                - name: ME
                  valueFrom: {fieldRef: {fieldPath: metadata.name}}
              volumes:
              - name: scratch
              - name: info
                downwardAPI:
                  items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}]
            """;
        (await k.RunWithInputAsync(pod, "apply", "-n", ns, "-f", "-")).Ok();
        var stored = JsonNode.Parse((await k.RunAsync("get", "pod", "p", "-n", ns, "-o", "json")).Ok().Out)!["spec"]!;
        Assert.Equal("v1", stored["containers"]![0]!["env"]![0]!["valueFrom"]!["fieldRef"]!["apiVersion"]!.GetValue<string>());
        Assert.Equal("{}", stored["volumes"]![0]!["emptyDir"]!.ToJsonString());
        Assert.Equal(420, stored["volumes"]![1]!["downwardAPI"]!["defaultMode"]!.GetValue<int>());
        Assert.Equal("v1", stored["volumes"]![1]!["downwardAPI"]!["items"]![0]!["fieldRef"]!["apiVersion"]!.GetValue<string>());
        Assert.Equal("""{"cpu":"200m","memory":"64Mi"}""", stored["containers"]![0]!["resources"]!["requests"]!.ToJsonString());
        Assert.Matches(@"ME:\s+p \(v1:metadata\.name\)", (await k.RunAsync("describe", "pod", "p", "-n", ns)).Ok().Out);

        // The manifest as first written: what upstream defaults or carries over is not a change.
        Assert.Contains("pod/p replaced", (await k.RunWithInputAsync(pod, "replace", "-n", ns, "-f", "-")).Ok().Out, StringComparison.Ordinal);
        var changed = pod.Replace("command: [sleep, \"3600\"]", "command: [sleep, \"7200\"]", StringComparison.Ordinal);
        Assert.Contains("pod updates may not change fields other than", (await k.RunWithInputAsync(changed, "replace", "-n", ns, "-f", "-")).Fails().Err, StringComparison.Ordinal);
        await k.RunAsync("delete", "namespace", ns, "--wait=false");
    }

    [Fact]
    public async Task DiscoveryListsStorageVersionHashesAndCustomResourceNames()
    {
        var k = K(Kubectl.V132);
        static string Hash(string gvk) => Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(gvk)).AsSpan(0, 8));
        var core = JsonNode.Parse((await k.RunAsync("get", "--raw", "/api/v1")).Ok().Out)!["resources"]!.AsArray();
        Assert.Equal(Hash("core/v1/Pod"), core.Single(r => r!["name"]!.GetValue<string>() == "pods")!["storageVersionHash"]!.GetValue<string>());
        Assert.Null(core.Single(r => r!["name"]!.GetValue<string>() == "pods/status")!["storageVersionHash"]);
        var apps = JsonNode.Parse((await k.RunAsync("get", "--raw", "/apis/apps/v1")).Ok().Out)!["resources"]!.AsArray();
        Assert.Equal(Hash("apps/v1/Deployment"), apps.Single(r => r!["name"]!.GetValue<string>() == "deployments")!["storageVersionHash"]!.GetValue<string>());
        // autoscaling/v1 is served over v2's storage: the same hash, as upstream.
        var hpaV1 = JsonNode.Parse((await k.RunAsync("get", "--raw", "/apis/autoscaling/v1")).Ok().Out)!["resources"]!.AsArray();
        Assert.Equal(Hash("autoscaling/v2/HorizontalPodAutoscaler"), hpaV1.Single(r => r!["name"]!.GetValue<string>() == "horizontalpodautoscalers")!["storageVersionHash"]!.GetValue<string>());

        (await k.RunWithInputAsync("""
            apiVersion: apiextensions.k8s.io/v1
            kind: CustomResourceDefinition
            metadata: {name: gadgets.example.com}
            spec:
              group: example.com
              scope: Namespaced
              names: {plural: gadgets, singular: gizmo, kind: Gadget}
              versions:
              - name: v1
                served: true
                storage: true
                schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
              - name: v1beta1
                served: true
                storage: false
                deprecated: true
                schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
              - name: v1alpha1
                served: true
                storage: false
                deprecated: true
                deprecationWarning: "v1alpha1 gadgets go away next release"
                schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
            """, "apply", "-f", "-")).Ok();
        var resources = await Eventually.ForAsync(async () =>
        {
            var r = await k.RunAsync("get", "--raw", "/apis/example.com/v1beta1");
            return r.ExitCode == 0 ? JsonNode.Parse(r.Out)!["resources"]!.AsArray() : null;
        });
        var gadgets = resources.Single(r => r!["name"]!.GetValue<string>() == "gadgets")!;
        Assert.Equal("gizmo", gadgets["singularName"]!.GetValue<string>());
        Assert.Equal(Hash("example.com/v1/Gadget"), gadgets["storageVersionHash"]!.GetValue<string>());

        (await k.RunWithInputAsync("""{"apiVersion":"example.com/v1","kind":"Gadget","metadata":{"name":"g1","namespace":"default"}}""", "apply", "-f", "-")).Ok();
        // kubectl resolves the singular name through discovery.
        Assert.Contains("g1", (await k.RunAsync("get", "gizmo/g1", "-n", "default")).Ok().Out, StringComparison.Ordinal);
        Assert.Contains("Warning: example.com/v1beta1 Gadget is deprecated", (await k.RunAsync("get", "gadgets.v1beta1.example.com", "-n", "default")).Ok().Err, StringComparison.Ordinal);
        Assert.Contains("Warning: v1alpha1 gadgets go away next release", (await k.RunAsync("get", "gadgets.v1alpha1.example.com", "-n", "default")).Ok().Err, StringComparison.Ordinal);
        Assert.DoesNotContain("Warning", (await k.RunAsync("get", "gadgets.v1.example.com", "-n", "default")).Ok().Err, StringComparison.Ordinal);
        (await k.RunAsync("delete", "crd", "gadgets.example.com")).Ok();
    }

    [Fact]
    public async Task UndecodableBodiesAreReportedAsUpstreamReportsThem()
    {
        using var client = fixture.Server.AdminClient();
        using var response = await client.PostAsync("/api/v1/namespaces", new StringContent("{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var message = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["message"]!.GetValue<string>();
        Assert.StartsWith("the object provided is unrecognized (must be of type Namespace): couldn't get version/kind; json parse error: ", message, StringComparison.Ordinal);
        Assert.EndsWith("({\"apiVersion\":\"v1\",\"kind\":\"Nam ...)", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EndpointSlicesAreNamedAfterTheirServiceByTheServer()
    {
        var k = K(Kubectl.V132);
        const string ns = "slices";
        (await k.RunAsync("create", "namespace", ns)).Ok();
        (await k.RunAsync("create", "service", "clusterip", "web", "-n", ns, "--tcp=80")).Ok();
        var first = await Eventually.ForAsync(async () => (await k.RunAsync("get", "endpointslices", "-n", ns, "-l", "kubernetes.io/service-name=web", "-o", "jsonpath={.items[*].metadata.name}")).Out is { Length: > 0 } n ? n : null);
        Assert.Matches("^web-[a-z0-9]{5}$", first);

        // A deleted slice is made again, under a new generated name; there is only ever one.
        (await k.RunAsync("delete", "endpointslice", first, "-n", ns)).Ok();
        var second = await Eventually.ForAsync(async () => (await k.RunAsync("get", "endpointslices", "-n", ns, "-l", "kubernetes.io/service-name=web", "-o", "jsonpath={.items[*].metadata.name}")).Out is { Length: > 0 } n && n != first ? n : null);
        Assert.Matches("^web-[a-z0-9]{5}$", second);
        (await k.RunAsync("delete", "namespace", ns, "--wait=false")).Ok();
    }

    [Theory]
    [MemberData(nameof(Kubectl.Versions), MemberType = typeof(Kubectl))]
    public async Task ServerSideApplyTakesOverFromClientSideApplyAndBack(string version)
    {
        var k = K(version);
        var ns = "upgrade-" + Suffix(version);
        (await k.RunAsync("create", "namespace", ns)).Ok();
        static string Config(string k, string j) => "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: mig, labels: {app: mig}}\ndata: {k: \"" + k + "\", j: \"" + j + "\"}\n";
        Assert.Contains("configmap/mig created", (await k.RunWithInputAsync(Config("v", "w"), "apply", "-n", ns, "-f", "-")).Ok().Out, StringComparison.Ordinal);

        // Upgrade: the fields client-side apply set (and that still hold their applied values) are taken over.
        var diff = await k.RunWithInputAsync(Config("changed", "w"), "diff", "--server-side", "-n", ns, "-f", "-");
        Assert.Equal(1, diff.ExitCode);
        Assert.Contains("+  k: changed", diff.Out, StringComparison.Ordinal);
        Assert.Contains("configmap/mig serverside-applied", (await k.RunWithInputAsync(Config("changed", "w"), "apply", "--server-side", "-n", ns, "-f", "-")).Ok().Out, StringComparison.Ordinal);
        var live = JsonNode.Parse((await k.RunAsync("get", "configmap", "mig", "-n", ns, "-o", "json", "--show-managed-fields")).Ok().Out)!;
        Assert.Equal("changed", live["data"]!["k"]!.GetValue<string>());
        var kubectlApply = live["metadata"]!["managedFields"]!.AsArray().Single(m => m!["manager"]!.GetValue<string>() == "kubectl" && m["operation"]!.GetValue<string>() == "Apply")!;
        Assert.NotNull(kubectlApply["fieldsV1"]!["f:data"]!["f:k"]);
        var lastApplied = JsonNode.Parse(live["metadata"]!["annotations"]!["kubectl.kubernetes.io/last-applied-configuration"]!.GetValue<string>())!;
        Assert.Equal("changed", lastApplied["data"]!["k"]!.GetValue<string>());
        Assert.Null(lastApplied["metadata"]!["annotations"]?["kubectl.kubernetes.io/last-applied-configuration"]);

        // A field someone else changed since the client-side apply still conflicts.
        (await k.RunAsync("patch", "configmap", "mig", "-n", ns, "--type=merge", "-p", """{"data":{"j":"patched"}}""")).Ok();
        var conflict = await k.RunWithInputAsync(Config("changed", "mine"), "apply", "--server-side", "-n", ns, "-f", "-");
        Assert.Contains("Apply failed with 1 conflict: conflict with \"kubectl-patch\" using v1: .data.j", conflict.Fails().Err, StringComparison.Ordinal);

        // And back: a client-side apply works from the annotation the server-side apply kept in step.
        Assert.Contains("configmap/mig configured", (await k.RunWithInputAsync(Config("again", "patched"), "apply", "-n", ns, "-f", "-")).Ok().Out, StringComparison.Ordinal);
        Assert.Equal("again patched", (await k.RunAsync("get", "configmap", "mig", "-n", ns, "-o", "jsonpath={.data.k} {.data.j}")).Ok().Out);
        await k.RunAsync("delete", "namespace", ns, "--wait=false");
    }

    [Fact]
    public async Task ACronJobThatNeverFiresGetsUpstreamsInvalidScheduleEvent()
    {
        var k = K(Kubectl.V132);
        (await k.RunAsync("create", "cronjob", "never", "-n", "default", "--image=busybox", "--schedule=0 0 30 2 *", "--", "true")).Ok();
        var described = await Eventually.ForAsync(async () => (await k.RunAsync("describe", "cronjob", "never", "-n", "default")).Out is var d && d.Contains("InvalidSchedule", StringComparison.Ordinal) ? d : null);
        Assert.Matches(@"Warning\s+InvalidSchedule\s+.*cronjob-controller\s+invalid schedule: 0 0 30 2 \* : time difference between two schedules is less than 1 second", described);
        (await k.RunAsync("delete", "cronjob", "never", "-n", "default")).Ok();
    }
}
