using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace Tugboat.E2E.Tests;

/// <summary>
/// Server-side dry runs with the real kubectl: every write verb on a wide set of built-in kinds answers as the real
/// write would and changes nothing — no object, no revision, no allocated address or port. The server runs without
/// controllers, so the store's revision only moves when a request writes.
/// </summary>
public sealed class DryRunTests(ApiOnlyServerFixture fixture) : IClassFixture<ApiOnlyServerFixture>
{
    private static string Objects(string ns, string suffix) => """
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: cfg, namespace: NS, labels: {app: dry}}
        data: {a: "1"}
        ---
        apiVersion: v1
        kind: Secret
        metadata: {name: sec, namespace: NS, labels: {app: dry}}
        stringData: {token: abc}
        ---
        apiVersion: v1
        kind: ServiceAccount
        metadata: {name: robot, namespace: NS, labels: {app: dry}}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: web, namespace: NS, labels: {app: dry}}
        spec:
          type: NodePort
          selector: {app: dry}
          ports: [{port: 80}]
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: solo, namespace: NS, labels: {app: dry}}
        spec:
          containers: [{name: c, image: busybox, command: [sleep, "3600"]}]
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web, namespace: NS, labels: {app: dry}}
        spec:
          replicas: 2
          selector: {matchLabels: {app: dry}}
          template:
            metadata: {labels: {app: dry}}
            spec:
              containers: [{name: web, image: nginx}]
        ---
        apiVersion: apps/v1
        kind: StatefulSet
        metadata: {name: db, namespace: NS, labels: {app: dry}}
        spec:
          serviceName: db
          replicas: 1
          selector: {matchLabels: {app: db}}
          template:
            metadata: {labels: {app: db}}
            spec:
              containers: [{name: db, image: redis}]
        ---
        apiVersion: apps/v1
        kind: DaemonSet
        metadata: {name: agent, namespace: NS, labels: {app: dry}}
        spec:
          selector: {matchLabels: {app: agent}}
          template:
            metadata: {labels: {app: agent}}
            spec:
              containers: [{name: agent, image: busybox}]
        ---
        apiVersion: batch/v1
        kind: Job
        metadata: {name: once, namespace: NS, labels: {app: dry}}
        spec:
          template:
            spec:
              restartPolicy: Never
              containers: [{name: c, image: busybox}]
        ---
        apiVersion: batch/v1
        kind: CronJob
        metadata: {name: tick, namespace: NS, labels: {app: dry}}
        spec:
          schedule: "*/5 * * * *"
          jobTemplate:
            spec:
              template:
                spec:
                  restartPolicy: Never
                  containers: [{name: c, image: busybox}]
        ---
        apiVersion: networking.k8s.io/v1
        kind: Ingress
        metadata: {name: web, namespace: NS, labels: {app: dry}}
        spec:
          rules:
          - host: dry.example
            http:
              paths:
              - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
        ---
        apiVersion: policy/v1
        kind: PodDisruptionBudget
        metadata: {name: web, namespace: NS, labels: {app: dry}}
        spec:
          minAvailable: 1
          selector: {matchLabels: {app: dry}}
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: Role
        metadata: {name: reader, namespace: NS, labels: {app: dry}}
        rules: [{apiGroups: [""], resources: [pods], verbs: [get]}]
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: RoleBinding
        metadata: {name: reader, namespace: NS, labels: {app: dry}}
        roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}
        subjects: [{kind: ServiceAccount, name: robot, namespace: NS}]
        ---
        apiVersion: autoscaling/v2
        kind: HorizontalPodAutoscaler
        metadata: {name: web, namespace: NS, labels: {app: dry}}
        spec:
          scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
          minReplicas: 1
          maxReplicas: 3
        ---
        apiVersion: v1
        kind: PersistentVolumeClaim
        metadata: {name: data, namespace: NS, labels: {app: dry}}
        spec:
          accessModes: [ReadWriteOnce]
          resources: {requests: {storage: 1Gi}}
        ---
        apiVersion: coordination.k8s.io/v1
        kind: Lease
        metadata: {name: lock, namespace: NS, labels: {app: dry}}
        spec: {holderIdentity: me}
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: ClusterRole
        metadata: {name: dry-reader-SUFFIX, labels: {app: dry}}
        rules: [{apiGroups: [""], resources: [pods], verbs: [get]}]
        ---
        apiVersion: scheduling.k8s.io/v1
        kind: PriorityClass
        metadata: {name: dry-SUFFIX, labels: {app: dry}}
        value: 100
        ---
        apiVersion: v1
        kind: PersistentVolume
        metadata: {name: dry-SUFFIX, labels: {app: dry}}
        spec:
          capacity: {storage: 1Gi}
          accessModes: [ReadWriteOnce]
          hostPath: {path: /tmp/dry}
        """.Replace("NS", ns, StringComparison.Ordinal).Replace("SUFFIX", suffix, StringComparison.Ordinal);

    private static readonly string[] NamespacedKinds =
        ["configmap", "secret", "serviceaccount", "service", "pod", "deployment", "statefulset", "daemonset", "job", "cronjob",
         "ingress", "poddisruptionbudget", "role", "rolebinding", "horizontalpodautoscaler", "persistentvolumeclaim", "lease"];

    private static readonly string[] ClusterKinds = ["clusterrole", "priorityclass", "persistentvolume"];

    /// <summary>The store's revision: a list's resourceVersion, which moves with every write anywhere.</summary>
    private static async Task<string> RevisionAsync(Kubectl k) =>
        JsonNode.Parse((await k.RunAsync("get", "--raw", "/api/v1/namespaces?limit=1")).Ok().Out)!["metadata"]!["resourceVersion"]!.GetValue<string>();

    /// <summary>Every object the test made, as the server stores it (resourceVersions included).</summary>
    /// <summary>A port of the node port range's static band (30000–30085), which automatic allocation leaves alone.</summary>
    private static int StaticNodePort(string suffix) => 30000 + (int.Parse(suffix, System.Globalization.CultureInfo.InvariantCulture) % 86);

    private static async Task<string> SnapshotAsync(Kubectl k, string ns, string suffix)
    {
        var names = string.Join(",", NamespacedKinds);
        var inNamespace = (await k.RunAsync("get", names, "-n", ns, "-o", "json")).Ok().Out;
        var cluster = (await k.RunAsync("get", string.Join(",", ClusterKinds), "-l", "app=dry", "-o", "json")).Ok().Out;
        var nsObject = (await k.RunAsync("get", "namespace", ns, "-o", "json")).Ok().Out;
        return inNamespace + cluster.Replace(suffix, "*", StringComparison.Ordinal) + nsObject;
    }

    /// <summary>A DELETE with DeleteOptions in its body, as client libraries send it (kubectl's --raw delete sends no body).</summary>
    private async Task<HttpStatusCode> DeleteWithBodyAsync(string path, string options)
    {
        using var client = fixture.Server.AdminClient();
        using var response = await client.SendAsync(new HttpRequestMessage(HttpMethod.Delete, path) { Content = new StringContent(options, Encoding.UTF8, "application/json") });
        return response.StatusCode;
    }

    [Theory]
    [MemberData(nameof(Kubectl.Versions), MemberType = typeof(Kubectl))]
    public async Task EveryWriteVerbWithDryRunServerChangesNothing(string version)
    {
        var k = new Kubectl(version, fixture.Server.Kubeconfig);
        var suffix = version[^4..].Replace(".", string.Empty);
        var ns = "dry-" + suffix;
        (await k.RunAsync("create", "namespace", ns)).Ok();
        var manifest = Objects(ns, suffix);
        (await k.RunWithInputAsync(manifest, "apply", "-f", "-")).Ok();
        var before = await SnapshotAsync(k, ns, suffix);
        var revision = await RevisionAsync(k);
        var nodePort = (await k.RunAsync("get", "svc", "web", "-n", ns, "-o", "jsonpath={.spec.ports[0].nodePort}")).Ok().Out;

        // Deletes, one by one and by collection, with the options in the body as kubectl sends them.
        foreach (var kind in NamespacedKinds)
        {
            var deleted = (await k.RunAsync("delete", kind, "-l", "app=dry", "-n", ns, "--dry-run=server")).Ok().Out;
            Assert.Contains("(server dry run)", deleted, StringComparison.Ordinal);
        }
        foreach (var kind in ClusterKinds)
        {
            (await k.RunAsync("delete", kind, "-l", "app=dry", "--dry-run=server")).Ok();
        }
        Assert.Contains($"configmap \"cfg\" deleted (server dry run)", (await k.RunAsync("delete", "configmap", "cfg", "-n", ns, "--dry-run=server")).Ok().Out, StringComparison.Ordinal);
        (await k.RunAsync("delete", "configmaps", "--all", "-n", ns, "--dry-run=server")).Ok();
        (await k.RunAsync("delete", "configmaps", "--all", "--all-namespaces", "--dry-run=server")).Ok();
        (await k.RunAsync("delete", "namespace", ns, "--dry-run=server")).Ok();
        (await k.RunAsync("delete", "pod", "solo", "-n", ns, "--dry-run=server", "--grace-period=0", "--force")).Ok();
        (await k.RunAsync("delete", "deployment", "web", "-n", ns, "--dry-run=server", "--cascade=foreground")).Ok();
        (await k.RunAsync("delete", "deployment", "web", "-n", ns, "--dry-run=server", "--cascade=orphan")).Ok();
        // Collections deleted by the server itself (DELETE on the collection, DeleteOptions in the body).
        Assert.Equal(HttpStatusCode.OK, await DeleteWithBodyAsync($"/api/v1/namespaces/{ns}/configmaps", """{"kind":"DeleteOptions","apiVersion":"v1","dryRun":["All"]}"""));
        Assert.Equal(HttpStatusCode.OK, await DeleteWithBodyAsync($"/api/v1/namespaces/{ns}/pods/solo", """{"kind":"DeleteOptions","apiVersion":"v1","dryRun":["All"]}"""));
        Assert.Equal(HttpStatusCode.OK, await DeleteWithBodyAsync($"/apis/apps/v1/namespaces/{ns}/deployments/web", """{"kind":"DeleteOptions","apiVersion":"v1","dryRun":["All"],"propagationPolicy":"Foreground"}"""));
        // An eviction whose deleteOptions ask for a dry run.
        (await k.RunWithInputAsync("""{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"solo","namespace":"NS"},"deleteOptions":{"dryRun":["All"]}}""".Replace("NS", ns, StringComparison.Ordinal),
            "create", "--raw", $"/api/v1/namespaces/{ns}/pods/solo/eviction", "-f", "-")).Ok();

        // Updates of every kind: client-side and server-side apply, replace, patch, label, annotate.
        var changed = manifest.Replace("labels: {app: dry}", "labels: {app: dry, changed: \"yes\"}", StringComparison.Ordinal);
        Assert.Contains("(server dry run)", (await k.RunWithInputAsync(changed, "apply", "-f", "-", "--dry-run=server")).Ok().Out, StringComparison.Ordinal);
        (await k.RunWithInputAsync(changed, "apply", "--server-side", "-f", "-", "--dry-run=server")).Ok();
        // Replace takes the objects as stored (a Job's generated selector cannot be left out, as upstream).
        var stored = JsonNode.Parse((await k.RunAsync("get", string.Join(",", NamespacedKinds), "-n", ns, "-o", "json")).Ok().Out)!;
        foreach (var item in stored["items"]!.AsArray())
        {
            item!["metadata"]!["labels"]!["changed"] = "yes";
        }
        (await k.RunWithInputAsync(stored.ToJsonString(), "replace", "-f", "-", "--dry-run=server")).Ok();
        foreach (var kind in NamespacedKinds)
        {
            (await k.RunAsync("label", kind, "-l", "app=dry", "-n", ns, "extra=1", "--dry-run=server")).Ok();
            (await k.RunAsync("annotate", kind, "-l", "app=dry", "-n", ns, "note=1", "--dry-run=server")).Ok();
        }
        (await k.RunAsync("patch", "configmap", "cfg", "-n", ns, "-p", """{"data":{"b":"2"}}""", "--dry-run=server")).Ok();
        (await k.RunAsync("patch", "deployment", "web", "-n", ns, "--type=json", "-p", """[{"op":"replace","path":"/spec/replicas","value":5}]""", "--dry-run=server")).Ok();
        (await k.RunAsync("scale", "deployment", "web", "-n", ns, "--replicas=4", "--dry-run=server")).Ok();
        (await k.RunAsync("set", "image", "deployment/web", "-n", ns, "web=nginx:2", "--dry-run=server")).Ok();
        (await k.RunAsync("label", "namespace", ns, "extra=1", "--dry-run=server")).Ok();

        // Creates: nothing stored, and nothing allocated (a dry-run NodePort service asking for a port keeps it free).
        (await k.RunAsync("create", "configmap", "fresh", "-n", ns, "--from-literal=a=b", "--dry-run=server")).Ok();
        (await k.RunAsync("create", "namespace", ns + "-new", "--dry-run=server")).Ok();
        (await k.RunAsync("create", "service", "nodeport", "held", "-n", ns, "--tcp=80", $"--node-port={StaticNodePort(suffix)}", "--dry-run=server")).Ok();
        (await k.RunAsync("create", "service", "clusterip", "plain", "-n", ns, "--tcp=80", "--dry-run=server")).Ok();
        (await k.RunAsync("run", "extra", "-n", ns, "--image=nginx", "--dry-run=server")).Ok();
        (await k.RunAsync("create", "job", "from-cron", "-n", ns, "--from=cronjob/tick", "--dry-run=server")).Ok();

        Assert.Equal(revision, await RevisionAsync(k));
        Assert.Equal(before, await SnapshotAsync(k, ns, suffix));
        Assert.Equal(nodePort, (await k.RunAsync("get", "svc", "web", "-n", ns, "-o", "jsonpath={.spec.ports[0].nodePort}")).Ok().Out);
        Assert.Contains("NotFound", (await k.RunAsync("get", "configmap", "fresh", "-n", ns)).Fails().Err, StringComparison.Ordinal);
        (await k.RunAsync("create", "service", "nodeport", "held", "-n", ns, "--tcp=80", $"--node-port={StaticNodePort(suffix)}")).Ok();
        await k.RunAsync("delete", string.Join(",", ClusterKinds), "-l", "app=dry");
        await k.RunAsync("delete", "namespace", ns, "--wait=false");
    }

    [Fact]
    public async Task BadDryRunValuesInTheBodyAreRefused()
    {
        var k = new Kubectl(Kubectl.V132, fixture.Server.Kubeconfig);
        (await k.RunAsync("create", "configmap", "stays", "-n", "default", "--from-literal=a=b")).Ok();
        using var client = fixture.Server.AdminClient();
        using var refused = await client.SendAsync(new HttpRequestMessage(HttpMethod.Delete, "/api/v1/namespaces/default/configmaps/stays")
        {
            Content = new StringContent("""{"kind":"DeleteOptions","apiVersion":"v1","dryRun":["Some"]}""", Encoding.UTF8, "application/json"),
        });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, refused.StatusCode);
        Assert.Equal("DeleteOptions.meta.k8s.io \"\" is invalid: dryRun: Unsupported value: []string{\"Some\"}: supported values: \"All\"",
            JsonNode.Parse(await refused.Content.ReadAsStringAsync())!["message"]!.GetValue<string>());
        (await k.RunAsync("get", "configmap", "stays", "-n", "default")).Ok();
        (await k.RunAsync("delete", "configmap", "stays", "-n", "default")).Ok();
    }

    [Theory]
    [MemberData(nameof(Kubectl.Versions), MemberType = typeof(Kubectl))]
    public async Task SystemNamespacesMayNotBeDeleted(string version)
    {
        var k = new Kubectl(version, fixture.Server.Kubeconfig);
        foreach (var ns in new[] { "default", "kube-system", "kube-public", "kube-node-lease" })
        {
            var refused = (await k.RunAsync("delete", "namespace", ns)).Fails().Err;
            Assert.Contains($"Error from server (Forbidden): namespaces \"{ns}\" is forbidden: this namespace may not be deleted", refused, StringComparison.Ordinal);
            Assert.Contains("this namespace may not be deleted", (await k.RunAsync("delete", "namespace", ns, "--dry-run=server")).Fails().Err, StringComparison.Ordinal);
        }
        // The server's own collection delete refuses them too, but still deletes the others.
        var other = "sys-other-" + version[^4..].Replace(".", string.Empty);
        (await k.RunAsync("create", "namespace", other)).Ok();
        Assert.Equal(HttpStatusCode.Forbidden, await DeleteWithBodyAsync("/api/v1/namespaces", """{"kind":"DeleteOptions","apiVersion":"v1"}"""));
        var phases = (await k.RunAsync("get", "namespaces", "-o", "jsonpath={range .items[*]}{.metadata.name}={.status.phase} {end}")).Ok().Out;
        foreach (var ns in new[] { "default", "kube-system", "kube-public", "kube-node-lease" })
        {
            Assert.Contains($"{ns}=Active", phases, StringComparison.Ordinal);
        }
        Assert.DoesNotContain($"{other}=Active", phases, StringComparison.Ordinal);
    }
}
