using System.Text.Json.Nodes;

namespace Tugboat.E2E.Tests;

/// <summary>Image pods on a containerd node, driven with real kubectl; the images are built offline by the tests.</summary>
public sealed class ContainerdTests(ContainerdClusterFixture fixture) : IClassFixture<ContainerdClusterFixture>
{
    private const string Busybox = ContainerdClusterFixture.Busybox;

    private Kubectl K => new(Kubectl.V132, fixture.Server.Kubeconfig);

    private async Task NamespaceAsync(Kubectl k, string ns) => (await k.RunWithInputAsync($"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n", "apply", "-f", "-")).Ok();

    private Task<JsonObject> WaitPodAsync(string ns, string name, Func<JsonObject, bool> condition, int seconds = 90) =>
        Eventually.ForAsync(async () => await fixture.Server.PodAsync(ns, name) is var p && condition(p) ? p : null, TimeSpan.FromSeconds(seconds));

    private static string? Waiting(JsonObject pod, string container) => Pods.Container(pod, container)?["state"]?["waiting"]?["reason"]?.GetValue<string>();

    [Theory]
    [MemberData(nameof(Kubectl.Versions), MemberType = typeof(Kubectl))]
    public async Task A_busybox_httpd_deployment_serves_from_each_pod_and_logs_and_exec_work(string kubectl)
    {
        var k = new Kubectl(kubectl, fixture.Server.Kubeconfig);
        var ns = "img-" + Path.GetFileName(kubectl).Replace(".", "-", StringComparison.Ordinal).ToLowerInvariant();
        await NamespaceAsync(k, ns);
        (await k.RunWithInputAsync($$$"""
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: web, namespace: {{{ns}}}}
            spec:
              replicas: 3
              selector: {matchLabels: {app: web}}
              template:
                metadata: {labels: {app: web}}
                spec:
                  containers:
                  - name: web
                    image: {{{Busybox}}}
                    imagePullPolicy: IfNotPresent
                    command: ["sh", "-c", "echo served by $(hostname) > /tmp/index.html; echo starting; exec httpd -f -p 8080 -h /tmp"]
                    ports: [{containerPort: 8080, name: http}]
                    readinessProbe:
                      httpGet: {path: /, port: http}
                      periodSeconds: 1
            """, "apply", "-f", "-")).Ok();
        (await k.RunAsync("rollout", "status", "deployment/web", "-n", ns, "--timeout=120s")).Ok();
        var pods = await fixture.Server.PodsAsync(ns, "app=web");
        Assert.Equal(3, pods.Count);
        var range = System.Net.IPNetwork.Parse(fixture.Server.ClusterCidr);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        foreach (var pod in pods)
        {
            var ip = pod["status"]!["podIP"]!.GetValue<string>();
            Assert.True(range.Contains(System.Net.IPAddress.Parse(ip)), $"{ip} is outside the node's range {range}");
            Assert.StartsWith("containerd://", Pods.Container(pod, "web")!["containerID"]!.GetValue<string>(), StringComparison.Ordinal);
            var name = pod["metadata"]!["name"]!.GetValue<string>();
            Assert.Equal($"served by {name}\n", await http.GetStringAsync($"http://{ip}:8080/"));
        }
        Assert.Equal(3, pods.Select(p => p["status"]!["podIP"]!.GetValue<string>()).Distinct().Count());
        var first = pods[0]["metadata"]!["name"]!.GetValue<string>();
        Assert.Contains("starting", (await k.RunAsync("logs", first, "-n", ns)).Ok().Out, StringComparison.Ordinal);
        var exec = await k.RunAsync("exec", first, "-n", ns, "--", "sh", "-c", "cat /tmp/index.html; id -u; exit 5");
        Assert.Equal(5, exec.ExitCode);
        Assert.Contains($"served by {first}", exec.Out, StringComparison.Ordinal);
        // Piped input ends, so the command goes on after reading it; cp both ways rides on that.
        var piped = (await k.RunWithInputAsync("line one\nline two\n", "exec", "-i", first, "-n", ns, "--", "sh", "-c", "wc -l; echo after-eof")).Ok();
        Assert.Matches(@"^\s*2\nafter-eof\n$", piped.Out);
        var local = Path.Combine(fixture.Server.DataDir, "cp-" + ns + ".txt");
        await File.WriteAllTextAsync(local, "copied in\n");
        (await k.RunAsync("cp", local, $"{ns}/{first}:/tmp/copied.txt")).Ok();
        Assert.Equal("copied in\n", (await k.RunAsync("exec", first, "-n", ns, "--", "cat", "/tmp/copied.txt")).Ok().Out);
        (await k.RunAsync("cp", $"{ns}/{first}:/tmp/copied.txt", local + ".back")).Ok();
        Assert.Equal("copied in\n", await File.ReadAllTextAsync(local + ".back"));
        // The image's events, as the kubelet words them.
        var events = (await k.RunAsync("get", "events", "-n", ns, "--field-selector", "involvedObject.name=" + first, "-o", "jsonpath={range .items[*]}{.reason}: {.message}{\"\\n\"}{end}")).Ok().Out;
        Assert.Contains($"Pulled: Container image \"{Busybox}\" already present on machine", events, StringComparison.Ordinal);
        var node = (await k.RunAsync("get", "nodes", "-o", "jsonpath={.items[0].status.nodeInfo.containerRuntimeVersion}")).Ok().Out;
        Assert.StartsWith("containerd://1.", node, StringComparison.Ordinal);
        // The node lists its images with their sizes (the scheduler's ImageLocality reads them).
        await Eventually.ForAsync(async () =>
        {
            var images = (await k.RunAsync("get", "nodes", "-o", "jsonpath={range .items[0].status.images[*]}{.names}={.sizeBytes}{\"\\n\"}{end}")).Ok().Out;
            return images.Split('\n').Any(l => l.Contains(Busybox, StringComparison.Ordinal) && long.Parse(l[(l.LastIndexOf('=') + 1)..], System.Globalization.CultureInfo.InvariantCulture) > 1_000_000) ? images : null;
        }, TimeSpan.FromSeconds(40));
    }

    [Fact]
    public async Task An_archive_dropped_into_the_images_folder_becomes_usable_with_pull_policy_never()
    {
        var images = Path.Combine(fixture.Server.DataDir, "agent", "images");
        var staging = Path.Combine(fixture.Server.DataDir, "late.tar");
        await Repository.BuildBusyboxImageAsync(staging, "registry.test/late:1");
        File.Move(staging, Path.Combine(images, "late.tar"));
        var listed = await Eventually.ForAsync(async () =>
        {
            var psi = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, UseShellExecute = false };
            foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "tug.dll"), "images", "ls", "--data-dir", fixture.Server.DataDir })
            {
                psi.ArgumentList.Add(a);
            }
            using var ls = System.Diagnostics.Process.Start(psi)!;
            var output = await ls.StandardOutput.ReadToEndAsync();
            await ls.WaitForExitAsync();
            return output.Contains("registry.test/late", StringComparison.Ordinal) ? output : null;
        }, TimeSpan.FromSeconds(30));
        Assert.Matches(@"IMAGE\s+TAG\s+IMAGE ID\s+SIZE", listed);
        Assert.Matches(@"registry.test/late\s+1\s+[0-9a-f]{12}\s+\d", listed);
        (await K.RunAsync("run", "late", "--image=registry.test/late:1", "--image-pull-policy=Never", "--restart=Never", "--", "echo", "late image")).Ok();
        await WaitPodAsync("default", "late", p => p["status"]?["phase"]?.GetValue<string>() == "Succeeded");
        Assert.Contains("late image", (await K.RunAsync("logs", "late")).Ok().Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_image_that_cannot_be_pulled_backs_off_and_a_never_pulled_one_says_so()
    {
        await NamespaceAsync(K, "pulls");
        // A registry on this machine that refuses connections: nothing leaves the machine.
        (await K.RunAsync("run", "missing", "-n", "pulls", "--image=127.0.0.1:1/missing:1", "--restart=Never")).Ok();
        (await K.RunAsync("run", "never", "-n", "pulls", "--image=docker.io/library/absent:1", "--image-pull-policy=Never", "--restart=Never")).Ok();
        var never = await WaitPodAsync("pulls", "never", p => Waiting(p, "never") == "ErrImageNeverPull");
        Assert.Equal("Container image \"docker.io/library/absent:1\" is not present with pull policy of Never", Pods.Container(never, "never")!["state"]!["waiting"]!["message"]!.GetValue<string>());
        var missing = await WaitPodAsync("pulls", "missing", p => Waiting(p, "missing") == "ImagePullBackOff");
        Assert.Equal("Back-off pulling image \"127.0.0.1:1/missing:1\"", Pods.Container(missing, "missing")!["state"]!["waiting"]!["message"]!.GetValue<string>());
        var events = (await K.RunAsync("get", "events", "-n", "pulls", "--field-selector", "involvedObject.name=missing", "-o", "jsonpath={range .items[*]}{.reason}: {.message}{\"\\n\"}{end}")).Ok().Out;
        Assert.Contains("Pulling: Pulling image \"127.0.0.1:1/missing:1\"", events, StringComparison.Ordinal);
        Assert.Contains("Failed: Failed to pull image \"127.0.0.1:1/missing:1\": ", events, StringComparison.Ordinal);
        Assert.Contains("Failed: Error: ErrImagePull", events, StringComparison.Ordinal);
        Assert.Contains("BackOff: Back-off pulling image \"127.0.0.1:1/missing:1\"", events, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Security_and_limits_are_enforced_by_the_runtime()
    {
        await NamespaceAsync(K, "secure");
        (await K.RunWithInputAsync($$$"""
            apiVersion: v1
            kind: Pod
            metadata: {name: nonroot, namespace: secure}
            spec:
              restartPolicy: Never
              containers:
              - {name: c, image: {{{Busybox}}}, command: ["true"], securityContext: {runAsNonRoot: true}}
            ---
            apiVersion: v1
            kind: Pod
            metadata: {name: readonly, namespace: secure}
            spec:
              restartPolicy: Never
              containers:
              - {name: c, image: {{{Busybox}}}, command: ["sh", "-c", "touch /written && echo wrote || echo refused"], securityContext: {readOnlyRootFilesystem: true}}
            ---
            apiVersion: v1
            kind: Pod
            metadata: {name: hungry, namespace: secure}
            spec:
              restartPolicy: Never
              containers:
              - name: c
                image: {{{Busybox}}}
                command: ["dd", "if=/dev/zero", "of=/dev/null", "bs=256M", "count=1"]
                resources: {limits: {memory: 32Mi}}
            ---
            apiVersion: v1
            kind: Pod
            metadata: {name: user, namespace: secure}
            spec:
              restartPolicy: Never
              securityContext: {runAsUser: 1234, runAsGroup: 5678}
              containers:
              - {name: c, image: {{{Busybox}}}, command: ["id"]}
            """, "apply", "-f", "-")).Ok();
        var nonroot = await WaitPodAsync("secure", "nonroot", p => Waiting(p, "c") == "CreateContainerConfigError");
        Assert.StartsWith("container has runAsNonRoot and image will run as root (pod: \"nonroot_secure(", Pods.Container(nonroot, "c")!["state"]!["waiting"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);
        await WaitPodAsync("secure", "readonly", p => p["status"]?["phase"]?.GetValue<string>() == "Succeeded");
        Assert.Contains("refused", (await K.RunAsync("logs", "readonly", "-n", "secure")).Ok().Out, StringComparison.Ordinal);
        var hungry = await WaitPodAsync("secure", "hungry", p => p["status"]?["phase"]?.GetValue<string>() == "Failed");
        Assert.Equal("OOMKilled", Pods.Container(hungry, "c")!["state"]!["terminated"]!["reason"]!.GetValue<string>());
        Assert.Equal(137, Pods.Container(hungry, "c")!["state"]!["terminated"]!["exitCode"]!.GetValue<int>());
        await WaitPodAsync("secure", "user", p => p["status"]?["phase"]?.GetValue<string>() == "Succeeded");
        Assert.Contains("uid=1234 gid=5678", (await K.RunAsync("logs", "user", "-n", "secure")).Ok().Out, StringComparison.Ordinal);
    }
}

/// <summary>Restarting the agent and containerd under running image pods restarts none of their containers.</summary>
public sealed class ContainerdRestartTests(ContainerdClusterFixture fixture) : IClassFixture<ContainerdClusterFixture>
{
    [Fact]
    public async Task Killing_the_agent_and_containerd_restarts_no_container()
    {
        var k = new Kubectl(Kubectl.V132, fixture.Server.Kubeconfig);
        (await k.RunAsync("create", "deployment", "steady", "--image=" + ContainerdClusterFixture.Busybox, "--replicas=2", "--", "sleep", "3600")).Ok();
        (await k.RunAsync("rollout", "status", "deployment/steady", "--timeout=90s")).Ok();
        static string Ids(List<System.Text.Json.Nodes.JsonObject> pods) => string.Join(',', pods.Select(p => Pods.Container(p, "busybox")!["containerID"]!.GetValue<string>()).Order(StringComparer.Ordinal));
        var before = Ids(await fixture.Server.PodsAsync("default", "app=steady"));
        await fixture.Server.StopAsync(kill: true);
        // containerd dies too (as the agent's child would with the machine's OOM killer, say); the shims keep the containers.
        var pid = int.Parse(await File.ReadAllTextAsync(Path.Combine(fixture.Server.DataDir, "agent", "containerd", "containerd.pid")), System.Globalization.CultureInfo.InvariantCulture);
        System.Diagnostics.Process.Start("kill", ["-KILL", pid.ToString(System.Globalization.CultureInfo.InvariantCulture)])!.WaitForExit();
        await fixture.Server.StartAsync();
        await Task.Delay(TimeSpan.FromSeconds(5));
        var after = await Eventually.ForAsync(async () =>
        {
            var pods = await fixture.Server.PodsAsync("default", "app=steady");
            return pods.Count == 2 && pods.All(Pods.IsReady) ? pods : null;
        }, TimeSpan.FromSeconds(60));
        Assert.Equal(before, Ids(after));
        Assert.All(after, p => Assert.Equal(0, Pods.Container(p, "busybox")!["restartCount"]!.GetValue<int>()));
        // The second start found no containerd answering and started one (the first start's line and this one).
        Assert.Equal(2, System.Text.RegularExpressions.Regex.Count(fixture.Server.Output, "containerd started"));
    }
}

/// <summary>RuntimeClasses on a containerd node: a class naming runc's handler, and upstream's refusals.</summary>
public sealed class RuntimeClassTests(ContainerdClusterFixture fixture) : IClassFixture<ContainerdClusterFixture>
{
    [Fact]
    public async Task A_pod_runs_with_its_classes_handler_and_missing_classes_or_handlers_are_refused()
    {
        var k = new Kubectl(Kubectl.V132, fixture.Server.Kubeconfig);
        (await k.RunWithInputAsync($$$"""
            apiVersion: node.k8s.io/v1
            kind: RuntimeClass
            metadata: {name: standard}
            handler: runc
            ---
            apiVersion: node.k8s.io/v1
            kind: RuntimeClass
            metadata: {name: nowhere}
            handler: nope
            ---
            apiVersion: v1
            kind: Pod
            metadata: {name: with-class}
            spec:
              runtimeClassName: standard
              restartPolicy: Never
              containers: [{name: c, image: {{{ContainerdClusterFixture.Busybox}}}, command: ["sh", "-c", "echo ran"]}]
            ---
            apiVersion: v1
            kind: Pod
            metadata: {name: no-handler}
            spec:
              runtimeClassName: nowhere
              containers: [{name: c, image: {{{ContainerdClusterFixture.Busybox}}}, command: ["sleep", "60"]}]
            """, "apply", "-f", "-")).Ok();
        var table = (await k.RunAsync("get", "runtimeclass")).Ok().Out;
        Assert.Matches(@"NAME\s+HANDLER\s+AGE", table);
        Assert.Matches(@"standard\s+runc\s+", table);
        var missing = await k.RunWithInputAsync("apiVersion: v1\nkind: Pod\nmetadata: {name: no-class}\nspec:\n  runtimeClassName: absent\n  containers: [{name: c, image: busybox}]\n", "apply", "-f", "-");
        Assert.NotEqual(0, missing.ExitCode);
        Assert.Contains("pods \"no-class\" is forbidden: pod rejected: RuntimeClass \"absent\" not found", missing.Err, StringComparison.Ordinal);
        var changed = await k.RunWithInputAsync("apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata: {name: standard}\nhandler: crun\n", "apply", "-f", "-");
        Assert.Contains("handler: Invalid value: \"crun\": field is immutable", changed.Err, StringComparison.Ordinal);
        await Eventually.ForAsync(async () => await fixture.Server.PodAsync("default", "with-class") is var p && p["status"]?["phase"]?.GetValue<string>() == "Succeeded" ? p : null, TimeSpan.FromSeconds(60));
        Assert.Contains("ran", (await k.RunAsync("logs", "with-class")).Ok().Out, StringComparison.Ordinal);
        var events = await Eventually.ForAsync(async () =>
        {
            var text = (await k.RunAsync("get", "events", "--field-selector", "involvedObject.name=no-handler", "-o", "jsonpath={range .items[*]}{.reason}: {.message}{\"\\n\"}{end}")).Ok().Out;
            return text.Contains("FailedCreatePodSandBox", StringComparison.Ordinal) ? text : null;
        }, TimeSpan.FromSeconds(60));
        Assert.Contains("Failed to create pod sandbox: rpc error: code = Unknown desc = failed to get sandbox runtime: no runtime for \"nope\" is configured", events, StringComparison.Ordinal);
    }
}

/// <summary>Pulls from a registry on this machine: straight from 127.0.0.1, and through a mirror from registries.yaml.</summary>
public sealed class RegistryTests(RegistryClusterFixture fixture) : IClassFixture<RegistryClusterFixture>
{
    [Fact]
    public async Task Images_are_pulled_from_a_local_registry_and_through_a_mirror()
    {
        var k = new Kubectl(Kubectl.V132, fixture.Server.Kubeconfig);
        var direct = $"127.0.0.1:{fixture.RegistryPort}/app:1";
        (await k.RunAsync("run", "direct", "--image=" + direct, "--image-pull-policy=Always", "--restart=Never", "--", "echo", "from the registry")).Ok();
        (await k.RunAsync("run", "mirrored", "--image=registry.test:5000/app:1", "--image-pull-policy=Always", "--restart=Never", "--", "echo", "through the mirror")).Ok();
        foreach (var (name, image, text) in new[] { ("direct", direct, "from the registry"), ("mirrored", "registry.test:5000/app:1", "through the mirror") })
        {
            await Eventually.ForAsync(async () => await fixture.Server.PodAsync("default", name) is var p && p["status"]?["phase"]?.GetValue<string>() == "Succeeded" ? p : null, TimeSpan.FromSeconds(60));
            Assert.Contains(text, (await k.RunAsync("logs", name)).Ok().Out, StringComparison.Ordinal);
            var events = (await k.RunAsync("get", "events", "--field-selector", "involvedObject.name=" + name, "-o", "jsonpath={range .items[*]}{.reason}: {.message}{\"\\n\"}{end}")).Ok().Out;
            Assert.Matches($"Pulled: Successfully pulled image \"{System.Text.RegularExpressions.Regex.Escape(image)}\" in \\d+ms\\. Image size: \\d+ bytes\\.", events);
        }
        var hosts = await File.ReadAllTextAsync(Path.Combine(fixture.Server.DataDir, "agent", "containerd", "certs.d", "registry.test:5000", "hosts.toml"));
        Assert.StartsWith($"server = \"http://127.0.0.1:{fixture.RegistryPort}\"", hosts, StringComparison.Ordinal);
    }
}
