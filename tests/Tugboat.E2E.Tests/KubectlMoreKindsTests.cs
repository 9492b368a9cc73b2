namespace Tugboat.E2E.Tests;

/// <summary>The kinds beyond the workloads — RBAC, storage, policy, scheduling — and the auth commands, as kubectl prints them.</summary>
public sealed class KubectlMoreKindsTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private const string Manifest = """
        apiVersion: v1
        kind: PersistentVolumeClaim
        metadata: {name: data}
        spec:
          accessModes: [ReadWriteOnce]
          resources: {requests: {storage: 1Gi}}
        ---
        apiVersion: storage.k8s.io/v1
        kind: StorageClass
        metadata: {name: SC, annotations: {storageclass.kubernetes.io/is-default-class: "true"}}
        provisioner: example.com/local
        ---
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: {name: deny}
        spec: {podSelector: {}}
        ---
        apiVersion: autoscaling/v2
        kind: HorizontalPodAutoscaler
        metadata: {name: web}
        spec:
          scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
          maxReplicas: 5
          metrics:
          - type: Resource
            resource: {name: cpu, target: {type: Utilization, averageUtilization: 60}}
        """;

    [Theory]
    [MemberData(nameof(Kubectl.Versions), MemberType = typeof(Kubectl))]
    public async Task CreateAndPrintRbacStoragePolicyAndSchedulingKinds(string version)
    {
        var k = new Kubectl(version, fixture.Server.Kubeconfig);
        var v = version[^4..].Replace(".", string.Empty);
        var ns = "kinds-" + v;
        (await k.RunAsync("create", "namespace", ns)).Ok();
        Assert.Contains("role.rbac.authorization.k8s.io/reader created", (await k.RunAsync("create", "role", "reader", "-n", ns, "--verb=get,list", "--resource=pods")).Ok().Out);
        (await k.RunAsync("create", "rolebinding", "rb", "-n", ns, "--role=reader", "--user=alice", $"--serviceaccount={ns}:default")).Ok();
        (await k.RunAsync("create", "clusterrole", "cr-" + v, "--verb=get", "--resource=nodes")).Ok();
        (await k.RunAsync("create", "pdb", "pdb", "-n", ns, "--selector=app=x", "--min-available=1")).Ok();
        (await k.RunAsync("create", "priorityclass", "pc-" + v, "--value=1000")).Ok();
        (await k.RunAsync("create", "quota", "q", "-n", ns, "--hard=pods=10,limits.cpu=2")).Ok();
        (await k.RunWithInputAsync(Manifest.Replace("SC", "sc-" + v, StringComparison.Ordinal), "apply", "-n", ns, "-f", "-")).Ok();

        var rb = (await k.RunAsync("get", "rolebinding", "rb", "-n", ns, "-o", "wide")).Ok().Out;
        Assert.Matches(@"NAME\s+ROLE\s+AGE\s+USERS\s+GROUPS\s+SERVICEACCOUNTS", rb);
        Assert.Matches($@"rb\s+Role/reader\s+\d+s\s+alice\s+{ns}/default", rb);
        Assert.Matches(@"NAME\s+CREATED AT\s*\nreader\s+\d{4}-\d\d-\d\dT", (await k.RunAsync("get", "role", "-n", ns)).Ok().Out);
        Assert.Matches(@"pdb\s+1\s+N/A\s+0\s+\d+s", (await k.RunAsync("get", "pdb", "-n", ns)).Ok().Out);
        Assert.Matches($@"pc-{v}\s+1000\s+false", (await k.RunAsync("get", "pc", "pc-" + v)).Ok().Out);
        Assert.Matches(@"q\s+\d+s\s+pods: 0/10\s+limits.cpu: 0/2", (await k.RunAsync("get", "quota", "-n", ns)).Ok().Out);
        Assert.Matches(@"data\s+Pending\s+.*<unset>", (await k.RunAsync("get", "pvc", "-n", ns)).Ok().Out);
        Assert.Matches($@"sc-{v} \(default\)\s+example.com/local\s+Delete\s+Immediate\s+false", (await k.RunAsync("get", "sc", "sc-" + v)).Ok().Out);
        Assert.Matches(@"deny\s+<none>", (await k.RunAsync("get", "netpol", "-n", ns)).Ok().Out);
        Assert.Matches(@"web\s+Deployment/web\s+cpu: <unknown>/60%\s+1\s+5\s+0", (await k.RunAsync("get", "hpa", "-n", ns)).Ok().Out);
        var invalid = (await k.RunWithInputAsync("apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: bad}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Secret, name: x}\n", "create", "-n", ns, "-f", "-")).Fails();
        Assert.Contains("roleRef.kind: Unsupported value: \"Secret\"", invalid.Err);
    }

    [Theory]
    [MemberData(nameof(Kubectl.Versions), MemberType = typeof(Kubectl))]
    public async Task AutoscaleServesBothAutoscalingVersions(string version)
    {
        var k = new Kubectl(version, fixture.Server.Kubeconfig);
        var ns = "hpa-" + version[^4..].Replace(".", string.Empty);
        (await k.RunAsync("create", "namespace", ns)).Ok();
        (await k.RunAsync("create", "deployment", "web", "-n", ns, "--image=nginx")).Ok();
        Assert.Contains("horizontalpodautoscaler.autoscaling/web autoscaled", (await k.RunAsync("autoscale", "deploy", "web", "-n", ns, "--min=2", "--max=5", "--cpu-percent=60")).Ok().Out);
        Assert.Matches(@"web\s+Deployment/web\s+cpu: <unknown>/60%\s+2\s+5\s+0", (await k.RunAsync("get", "hpa", "-n", ns)).Ok().Out);
        var v1 = System.Text.Json.Nodes.JsonNode.Parse((await k.RunAsync("get", "--raw", $"/apis/autoscaling/v1/namespaces/{ns}/horizontalpodautoscalers/web")).Ok().Out)!;
        Assert.Equal("autoscaling/v1", v1["apiVersion"]!.GetValue<string>());
        Assert.Equal(60, v1["spec"]!["targetCPUUtilizationPercentage"]!.GetValue<int>());
        Assert.Null(v1["spec"]!["metrics"]);
    }

    [Theory]
    [MemberData(nameof(Kubectl.Versions), MemberType = typeof(Kubectl))]
    public async Task AuthCanIAndWhoAmI(string version)
    {
        var k = new Kubectl(version, fixture.Server.Kubeconfig);
        Assert.Equal("yes", (await k.RunAsync("auth", "can-i", "create", "deployments", "-n", "default")).Ok().Out.Trim());
        var whoami = (await k.RunAsync("auth", "whoami")).Ok().Out;
        Assert.Matches(@"Username\s+system:admin", whoami);
        Assert.Matches(@"Groups\s+\[system:masters system:authenticated\]", whoami);
    }
}
