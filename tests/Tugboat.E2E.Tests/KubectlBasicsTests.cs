using System.Text.Json.Nodes;

namespace Tugboat.E2E.Tests;

/// <summary>Everyday kubectl against a real server, with the machine's kubectl 1.32 and 1.27; output as a real cluster prints it.</summary>
public sealed class KubectlBasicsTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private const string Manifest = """
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: web
          labels: {app: web}
        spec:
          replicas: 2
          selector:
            matchLabels: {app: web}
          template:
            metadata:
              labels: {app: web}
            spec:
              containers:
              - name: web
                image: nginx:1.25
                ports: [{containerPort: 80}]
        ---
        apiVersion: v1
        kind: Service
        metadata:
          name: web
        spec:
          type: NodePort
          selector: {app: web}
          ports: [{port: 80}]
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: cfg, labels: {tier: config}}
        data: {a: "1", b: "2"}
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: p1, labels: {app: web, role: solo}}
        spec:
          containers: [{name: c, image: busybox, command: [sleep, "3600"]}]
        """;

    private Kubectl K(string version) => new(version, fixture.Server.Kubeconfig);

    private static string Ns(string test, string version) => $"{test}-{version[^4..].Replace(".", string.Empty)}";

    private async Task<string> NamespaceAsync(Kubectl k, string name)
    {
        (await k.RunAsync("create", "namespace", name)).Ok();
        return name;
    }

    [Theory]
    [MemberData(nameof(Kubectl.Versions), MemberType = typeof(Kubectl))]
    public async Task CreateFromManifestThenGetInEveryOutputFormat(string version)
    {
        var k = K(version);
        var ns = await NamespaceAsync(k, Ns("get", version));
        var created = (await k.RunWithInputAsync(Manifest, "create", "-n", ns, "-f", "-")).Ok();
        Assert.Contains("deployment.apps/web created", created.Out);
        Assert.Contains("service/web created", created.Out);
        Assert.Contains("configmap/cfg created", created.Out);
        Assert.Contains("pod/p1 created", created.Out);

        var wide = (await k.RunAsync("get", "deploy", "-n", ns, "-o", "wide")).Ok().Out;
        Assert.Matches(@"NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\s+CONTAINERS\s+IMAGES\s+SELECTOR", wide);
        // UP-TO-DATE depends on how far the deployment controller got; pods never become ready without a node agent.
        Assert.Matches(@"web\s+0/2\s+[02]\s+0\s+\d+s\s+web\s+nginx:1.25\s+app=web", wide);

        var svc = (await k.RunAsync("get", "svc", "web", "-n", ns)).Ok().Out;
        Assert.Matches(@"NAME\s+TYPE\s+CLUSTER-IP\s+EXTERNAL-IP\s+PORT\(S\)\s+AGE", svc);
        Assert.Matches(@"web\s+NodePort\s+10\.43\.\d+\.\d+\s+<none>\s+80:3\d{4}/TCP", svc);

        var pods = (await k.RunAsync("get", "pods", "-n", ns, "-o", "wide")).Ok().Out;
        Assert.Matches(@"NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE\s+NOMINATED NODE\s+READINESS GATES", pods);
        Assert.Matches(@"p1\s+0/1\s+Pending\s+0\s+\d+s\s+<none>\s+<none>\s+<none>\s+<none>", pods);

        var yaml = (await k.RunAsync("get", "cm", "cfg", "-n", ns, "-o", "yaml")).Ok().Out;
        Assert.Contains("kind: ConfigMap", yaml);
        Assert.Matches("resourceVersion: \"\\d+\"", yaml);
        Assert.Contains("uid: ", yaml);

        var json = JsonNode.Parse((await k.RunAsync("get", "deploy", "web", "-n", ns, "-o", "json")).Ok().Out)!;
        Assert.Equal("RollingUpdate", json["spec"]!["strategy"]!["type"]!.GetValue<string>());
        Assert.Equal("25%", json["spec"]!["strategy"]!["rollingUpdate"]!["maxSurge"]!.GetValue<string>());
        Assert.Equal(10, json["spec"]!["revisionHistoryLimit"]!.GetValue<int>());
        Assert.Equal(1, json["metadata"]!["generation"]!.GetValue<int>());

        Assert.Equal("1 2", (await k.RunAsync("get", "cm", "cfg", "-n", ns, "-o", "jsonpath={.data.a} {.data.b}")).Ok().Out);
        var cc = (await k.RunAsync("get", "pod", "p1", "-n", ns, "-o", "custom-columns=NAME:.metadata.name,SA:.spec.serviceAccountName,POLICY:.spec.restartPolicy")).Ok().Out;
        Assert.Matches(@"NAME\s+SA\s+POLICY\s*\np1\s+default\s+Always", cc);
        Assert.Equal("pod/p1", (await k.RunAsync("get", "pods", "-n", ns, "-l", "role=solo", "-o", "name")).Ok().Out.Trim());

        var labels = (await k.RunAsync("get", "pods", "-n", ns, "--show-labels")).Ok().Out;
        Assert.Matches(@"LABELS\s*\np1 .*app=web,role=solo", labels);
        Assert.Contains("p1", (await k.RunAsync("get", "pods", "-n", ns, "-l", "app in (web,other),role")).Ok().Out);
        Assert.Contains("No resources found", (await k.RunAsync("get", "pods", "-n", ns, "-l", "!app")).Ok().Err);
        Assert.Contains("No resources found", (await k.RunAsync("get", "pods", "-n", ns, "-l", "app!=web")).Ok().Err);

        var all = (await k.RunAsync("get", "all", "-n", ns)).Ok().Out;
        Assert.Contains("pod/p1", all);
        Assert.Contains("service/web", all);
        Assert.Contains("deployment.apps/web", all);
        Assert.DoesNotContain("configmap", all);

        var everywhere = (await k.RunAsync("get", "cm", "-A", "--sort-by=.metadata.name")).Ok().Out;
        Assert.Matches(@"NAMESPACE\s+NAME\s+DATA\s+AGE", everywhere);
        Assert.Matches($@"{ns}\s+cfg\s+2", everywhere);
    }

    [Theory]
    [MemberData(nameof(Kubectl.Versions), MemberType = typeof(Kubectl))]
    public async Task GeneratorsLabelsAnnotationsPatchesAndScale(string version)
    {
        var k = K(version);
        var ns = await NamespaceAsync(k, Ns("gen", version));
        Assert.Contains("configmap/c1 created", (await k.RunAsync("create", "configmap", "c1", "-n", ns, "--from-literal=k=v")).Ok().Out);
        Assert.Contains("secret/s1 created", (await k.RunAsync("create", "secret", "generic", "s1", "-n", ns, "--from-literal=password=hunter2")).Ok().Out);
        Assert.Contains("deployment.apps/d1 created", (await k.RunAsync("create", "deployment", "d1", "-n", ns, "--image=nginx:1.25", "--replicas=3")).Ok().Out);
        var secret = (await k.RunAsync("get", "secret", "s1", "-n", ns)).Ok().Out;
        Assert.Matches(@"NAME\s+TYPE\s+DATA\s+AGE\s*\ns1\s+Opaque\s+1", secret);
        Assert.Equal("aHVudGVyMg==", (await k.RunAsync("get", "secret", "s1", "-n", ns, "-o", "jsonpath={.data.password}")).Ok().Out);
        Assert.Equal("3", (await k.RunAsync("get", "deploy", "d1", "-n", ns, "-o", "jsonpath={.spec.replicas}")).Ok().Out);

        Assert.Contains("configmap/c1 labeled", (await k.RunAsync("label", "cm", "c1", "-n", ns, "env=prod")).Ok().Out);
        // kubectl 1.27 itself prints "annotate" here.
        Assert.Matches("configmap/c1 annotated?", (await k.RunAsync("annotate", "cm", "c1", "-n", ns, "note=hello")).Ok().Out);
        Assert.Contains("configmap/c1 patched", (await k.RunAsync("patch", "cm", "c1", "-n", ns, "--type=merge", "-p", "{\"data\":{\"m\":\"merged\"}}")).Ok().Out);
        Assert.Contains("configmap/c1 patched", (await k.RunAsync("patch", "cm", "c1", "-n", ns, "--type=json", "-p", "[{\"op\":\"remove\",\"path\":\"/data/k\"}]")).Ok().Out);
        var cm = JsonNode.Parse((await k.RunAsync("get", "cm", "c1", "-n", ns, "-o", "json")).Ok().Out)!;
        Assert.Equal("prod", cm["metadata"]!["labels"]!["env"]!.GetValue<string>());
        Assert.Equal("hello", cm["metadata"]!["annotations"]!["note"]!.GetValue<string>());
        Assert.Equal("merged", cm["data"]!["m"]!.GetValue<string>());
        Assert.Null(cm["data"]!["k"]);

        Assert.Contains("configmap/c1 patched", (await k.RunAsync("patch", "cm", "c1", "-n", ns, "-p", "{\"data\":{\"x\":\"y\"}}")).Ok().Out);
        Assert.Equal("y", (await k.RunAsync("get", "cm", "c1", "-n", ns, "-o", "jsonpath={.data.x}")).Ok().Out);

        Assert.Contains("deployment.apps/d1 scaled", (await k.RunAsync("scale", "deploy", "d1", "-n", ns, "--replicas=5")).Ok().Out);
        var d = JsonNode.Parse((await k.RunAsync("get", "deploy", "d1", "-n", ns, "-o", "json")).Ok().Out)!;
        Assert.Equal(5, d["spec"]!["replicas"]!.GetValue<int>());
        Assert.Equal(2, d["metadata"]!["generation"]!.GetValue<int>());
        Assert.Contains("c1", (await k.RunAsync("get", "cm", "-n", ns, "-l", "env=prod")).Ok().Out);
    }

    [Theory]
    [MemberData(nameof(Kubectl.Versions), MemberType = typeof(Kubectl))]
    public async Task DeleteWaitsAndSupportsSelectorsAllAndNamespaces(string version)
    {
        var k = K(version);
        var ns = await NamespaceAsync(k, Ns("del", version));
        foreach (var (name, tier) in new[] { ("a", "x"), ("b", "x"), ("c", "y"), ("d", "y") })
        {
            (await k.RunAsync("create", "cm", name, "-n", ns)).Ok();
            (await k.RunAsync("label", "cm", name, "-n", ns, "tier=" + tier)).Ok();
        }
        Assert.Contains("configmap \"a\" deleted", (await k.RunAsync("delete", "cm", "a", "-n", ns, "--wait")).Ok().Out);
        var byLabel = (await k.RunAsync("delete", "cm", "-n", ns, "-l", "tier=y")).Ok().Out;
        Assert.Contains("configmap \"c\" deleted", byLabel);
        Assert.Contains("configmap \"d\" deleted", byLabel);
        Assert.Contains("configmap \"b\" deleted", (await k.RunAsync("delete", "cm", "--all", "-n", ns)).Ok().Out);
        Assert.Contains("No resources found", (await k.RunAsync("get", "cm", "-n", ns, "-l", "tier")).Ok().Err);
        var missing = (await k.RunAsync("delete", "cm", "a", "-n", ns)).Fails();
        Assert.Contains("Error from server (NotFound): configmaps \"a\" not found", missing.Err);

        (await k.RunAsync("create", "cm", "left", "-n", ns)).Ok();
        Assert.Contains($"namespace \"{ns}\" deleted", (await k.RunAsync("delete", "namespace", ns, "--wait", "--timeout=60s")).Ok().Out);
        Assert.Contains("NotFound", (await k.RunAsync("get", "namespace", ns)).Fails().Err);
        var refused = (await k.RunAsync("create", "cm", "late", "-n", ns)).Fails();
        Assert.Contains($"namespaces \"{ns}\" not found", refused.Err);
    }

    [Theory]
    [MemberData(nameof(Kubectl.Versions), MemberType = typeof(Kubectl))]
    public async Task NamespacesGetADefaultServiceAccountAndSayWhatHoldsTheirDeletion(string version)
    {
        var k = K(version);
        var ns = await NamespaceAsync(k, Ns("nsdel", version));
        // The service account controller creates the default account, and creates it again once deleted.
        await Eventually.ForAsync(async () => (await k.RunAsync("get", "sa", "default", "-n", ns)).ExitCode == 0 ? "" : null, TimeSpan.FromSeconds(20));
        (await k.RunAsync("delete", "sa", "default", "-n", ns)).Ok();
        await Eventually.ForAsync(async () => (await k.RunAsync("get", "sa", "default", "-n", ns)).ExitCode == 0 ? "" : null, TimeSpan.FromSeconds(20));

        (await k.RunAsync("create", "cm", "held", "-n", ns)).Ok();
        (await k.RunAsync("patch", "cm", "held", "-n", ns, "--type=merge", "-p", """{"metadata":{"finalizers":["example.com/hold"]}}""")).Ok();
        (await k.RunAsync("create", "deployment", "d", "-n", ns, "--image=nginx")).Ok();
        (await k.RunAsync("delete", "namespace", ns, "--wait=false")).Ok();
        var described = await Eventually.ForAsync(async () =>
        {
            var d = (await k.RunAsync("describe", "namespace", ns)).Ok().Out;
            return d.Contains("SomeFinalizerRemain", StringComparison.Ordinal) ? d : null;
        }, TimeSpan.FromSeconds(30));
        Assert.Matches(@"Status:\s+Terminating", described);
        Assert.Matches(@"NamespaceContentRemaining\s+True\s+.*SomeResourcesRemain\s+Some resources are remaining: configmaps\. has 1 resource instances", described);
        Assert.Matches(@"NamespaceFinalizersRemaining\s+True\s+.*SomeFinalizerRemain\s+Some finalizers are remaining: example\.com/hold in 1 resource instances", described);
        Assert.Matches(@"NamespaceDeletionDiscoveryFailure\s+False\s+.*ResourcesDiscovered\s+All resources successfully discovered", described);
        // Everything without a finalizer went; the held ConfigMap waits, and so does the namespace.
        Assert.Contains("No resources found", (await k.RunAsync("get", "deployments", "-n", ns)).Ok().Err);
        Assert.Contains("held", (await k.RunAsync("get", "cm", "-n", ns)).Ok().Out);
        (await k.RunAsync("patch", "cm", "held", "-n", ns, "--type=merge", "-p", """{"metadata":{"finalizers":null}}""")).Ok();
        (await k.RunAsync("wait", "--for=delete", "namespace/" + ns, "--timeout=60s")).Ok();
    }

    [Theory]
    [MemberData(nameof(Kubectl.Versions), MemberType = typeof(Kubectl))]
    public async Task WatchStreamsChanges(string version)
    {
        var k = K(version);
        var ns = await NamespaceAsync(k, Ns("watch", version));
        using var watch = k.Start("get", "cm", "-n", ns, "-w", "--request-timeout=30s");
        var lines = new List<string>();
        var seen = new TaskCompletionSource();
        _ = Task.Run(async () =>
        {
            while (await watch.StandardOutput.ReadLineAsync() is { } line)
            {
                lock (lines)
                {
                    lines.Add(line);
                    if (lines.Count(l => l.StartsWith("w1 ", StringComparison.Ordinal)) >= 2)
                    {
                        seen.TrySetResult();
                    }
                }
            }
        });
        // The watch is established once kubectl has printed the (empty) list; creating before that is also fine.
        await Task.Delay(1500);
        (await k.RunAsync("create", "cm", "w1", "-n", ns)).Ok();
        (await k.RunAsync("label", "cm", "w1", "-n", ns, "a=b")).Ok();
        await seen.Task.WaitAsync(TimeSpan.FromSeconds(20));
        watch.Kill();
        lock (lines)
        {
            Assert.Matches(@"^w1\s+0\s+\d+s", lines.First(l => l.StartsWith("w1 ", StringComparison.Ordinal)));
        }
    }

    [Theory]
    [MemberData(nameof(Kubectl.Versions), MemberType = typeof(Kubectl))]
    public async Task DiscoveryAndClusterCommands(string version)
    {
        var k = K(version);
        var resources = (await k.RunAsync("api-resources")).Ok().Out;
        Assert.Matches(@"NAME\s+SHORTNAMES\s+APIVERSION\s+NAMESPACED\s+KIND", resources);
        Assert.Matches(@"deployments\s+deploy\s+apps/v1\s+true\s+Deployment", resources);
        Assert.Matches(@"namespaces\s+ns\s+v1\s+false\s+Namespace", resources);
        Assert.Matches(@"cronjobs\s+cj\s+batch/v1\s+true\s+CronJob", resources);
        Assert.Matches(@"ingresses\s+ing\s+networking.k8s.io/v1\s+true\s+Ingress", resources);
        var versions = (await k.RunAsync("api-versions")).Ok().Out;
        foreach (var gv in new[] { "v1", "apps/v1", "batch/v1", "coordination.k8s.io/v1", "discovery.k8s.io/v1", "networking.k8s.io/v1" })
        {
            Assert.Contains(gv + "\n", versions);
        }
        var raw = JsonNode.Parse((await k.RunAsync("get", "--raw", "/api/v1/namespaces/default/services/kubernetes")).Ok().Out)!;
        Assert.Equal("10.43.0.1", raw["spec"]!["clusterIP"]!.GetValue<string>());
        var clusterInfo = System.Text.RegularExpressions.Regex.Replace((await k.RunAsync("cluster-info")).Ok().Out, "\u001b\\[[0-9;]*m", string.Empty);
        Assert.Contains("Kubernetes control plane is running at https://127.0.0.1:", clusterInfo);
        // kubectl 1.27 prints the struct form (GitVersion:"v1.30.0+tugboat"), newer ones the plain version.
        Assert.Matches("Server Version: (v1\\.30\\.0|.*GitVersion:\"v1\\.30\\.0)", (await k.RunAsync("version")).Ok().Out);
        var nss = (await k.RunAsync("get", "ns")).Ok().Out;
        foreach (var n in new[] { "default", "kube-system", "kube-public", "kube-node-lease" })
        {
            Assert.Matches($@"{n}\s+Active", nss);
        }
        Assert.Contains("default", (await k.RunAsync("get", "sa", "-n", "kube-system")).Ok().Out);
        var explain = (await k.RunAsync("explain", "deployment.spec.strategy")).Ok().Out;
        Assert.Matches(@"KIND:\s+Deployment", explain);
        Assert.Matches(@"rollingUpdate\s+<RollingUpdateDeployment>", explain);
        Assert.Matches(@"type\s+<string>", explain);
    }

    [Theory]
    [MemberData(nameof(Kubectl.Versions), MemberType = typeof(Kubectl))]
    public async Task DescribeShowsObjectAndItsEvents(string version)
    {
        var k = K(version);
        var ns = await NamespaceAsync(k, Ns("desc", version));
        (await k.RunWithInputAsync(Manifest, "create", "-n", ns, "-f", "-")).Ok();
        var uid = (await k.RunAsync("get", "pod", "p1", "-n", ns, "-o", "jsonpath={.metadata.uid}")).Ok().Out;
        var ev = $$"""
            {"apiVersion":"v1","kind":"Event","metadata":{"name":"p1.1"},
             "involvedObject":{"kind":"Pod","namespace":"{{ns}}","name":"p1","uid":"{{uid}}","apiVersion":"v1"},
             "reason":"Scheduled","message":"Successfully assigned {{ns}}/p1 to node-a","type":"Normal",
             "source":{"component":"default-scheduler"},"firstTimestamp":"2026-01-01T00:00:00Z","lastTimestamp":"2026-01-01T00:00:00Z","count":1}
            """;
        (await k.RunWithInputAsync(ev, "create", "-n", ns, "-f", "-")).Ok();
        var describe = (await k.RunAsync("describe", "pod", "p1", "-n", ns)).Ok().Out;
        Assert.Matches(@"Name:\s+p1", describe);
        Assert.Matches(@"Service Account:\s+default", describe);
        Assert.Matches(@"Status:\s+Pending", describe);
        Assert.Matches(@"QoS Class:\s+BestEffort", describe);
        Assert.Matches(@"Normal\s+Scheduled\s+.*default-scheduler\s+Successfully assigned", describe);
        var events = (await k.RunAsync("get", "events", "-n", ns)).Ok().Out;
        Assert.Matches(@"LAST SEEN\s+TYPE\s+REASON\s+OBJECT\s+MESSAGE", events);
        Assert.Matches(@"Normal\s+Scheduled\s+pod/p1\s+Successfully assigned", events);
        var modern = $"apiVersion: events.k8s.io/v1\nkind: Event\nmetadata: {{name: p1.2}}\neventTime: \"2026-01-01T00:00:01.000000Z\"\nreportingController: example.com/test\nreportingInstance: t\naction: Probe\nreason: Checked\nnote: written as events.k8s.io/v1\ntype: Normal\nregarding: {{kind: Pod, name: p1, namespace: {ns}, apiVersion: v1}}\n";
        (await k.RunWithInputAsync(modern, "create", "-n", ns, "-f", "-")).Ok();
        Assert.Matches(@"Normal\s+Checked\s+pod/p1\s+written as events.k8s.io/v1", (await k.RunAsync("get", "events", "-n", ns)).Ok().Out);
        var logs = (await k.RunAsync("logs", "p1", "-n", ns)).Fails();
        // The pod is bound to a node without an agent and has never started: upstream's kubelet answer.
        Assert.Contains("Error from server (BadRequest): container \"c\" in pod \"p1\" is waiting to start: ContainerCreating", logs.Err);
        var deploy = (await k.RunAsync("describe", "deploy", "web", "-n", ns)).Ok().Out;
        Assert.Matches(@"StrategyType:\s+RollingUpdate", deploy);
        Assert.Matches(@"RollingUpdateStrategy:\s+25% max unavailable, 25% max surge", deploy);
    }
}
