using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Tugboat.E2E.Tests;

/// <summary>Real pods on tug server's embedded node agent, driven with real kubectl.</summary>
public sealed class NodeAgentTests(AgentClusterFixture fixture) : IClassFixture<AgentClusterFixture>
{
    private Kubectl K => new(Kubectl.V132, fixture.Server.Kubeconfig);

    /// <summary>A name of its own for each kubectl a theory runs with (e.g. pf-kubectl-1-27).</summary>
    private static string PerKubectl(string prefix, string kubectl) => prefix + "-" + Path.GetFileName(kubectl).Replace(".", "-", StringComparison.Ordinal).ToLowerInvariant();

    private async Task NamespaceAsync(string ns) => await K.RunWithInputAsync($"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n", "apply", "-f", "-");

    private Task<JsonObject> WaitPodAsync(string ns, string name, Func<JsonObject, bool> condition, int seconds = 60) =>
        Eventually.ForAsync(async () => await fixture.Server.PodAsync(ns, name) is var p && condition(p) ? p : null, TimeSpan.FromSeconds(seconds));

    [Fact]
    public async Task ADeploymentsReplicasEachGetTheirOwnAddressAndServeOnTheSamePort()
    {
        await NamespaceAsync("web");
        (await K.RunWithInputAsync("""
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: web, namespace: web}
            spec:
              replicas: 3
              selector: {matchLabels: {app: web}}
              template:
                metadata: {labels: {app: web}}
                spec:
                  containers:
                  - name: web
                    image: python:3
                    command: ["python3", "-m", "http.server", "8080", "--bind", "0.0.0.0"]
                    ports: [{containerPort: 8080, name: http}]
                    readinessProbe:
                      httpGet: {path: /, port: http}
                      periodSeconds: 1
            """, "apply", "-f", "-")).Ok();
        (await K.RunAsync("rollout", "status", "deployment/web", "-n", "web", "--timeout=90s")).Ok();
        var pods = await fixture.Server.PodsAsync("web", "app=web");
        Assert.Equal(3, pods.Count);
        var ips = pods.Select(p => p["status"]!["podIP"]!.GetValue<string>()).ToList();
        Assert.Equal(3, ips.Distinct().Count());
        var range = System.Net.IPNetwork.Parse(fixture.Server.ClusterCidr);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        foreach (var ip in ips)
        {
            Assert.True(range.Contains(System.Net.IPAddress.Parse(ip)), $"{ip} is outside the node's range {range}");
            var response = await http.GetAsync($"http://{ip}:8080/");
            Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        }
        Assert.All(pods, p =>
        {
            Assert.True(Pods.IsReady(p));
            Assert.Equal("Running", p["status"]!["phase"]!.GetValue<string>());
            Assert.StartsWith("process://", Pods.Container(p, "web")!["containerID"]!.GetValue<string>(), StringComparison.Ordinal);
        });
        var wide = (await K.RunAsync("get", "pods", "-n", "web", "-o", "wide")).Ok().Out;
        Assert.All(ips, ip => Assert.Contains(ip, wide, StringComparison.Ordinal));
    }

    [Fact]
    public async Task AReadinessProbeGatesReady()
    {
        await NamespaceAsync("probe");
        (await K.RunWithInputAsync("""
            apiVersion: v1
            kind: Pod
            metadata: {name: gated, namespace: probe}
            spec:
              containers:
              - name: c
                image: busybox
                command: ["sh", "-c", "sleep 3; touch /tmp/ready-$POD_UID; sleep 3600"]
                env: [{name: POD_UID, valueFrom: {fieldRef: {fieldPath: metadata.uid}}}]
                readinessProbe:
                  exec: {command: ["sh", "-c", "test -f /tmp/ready-$POD_UID"]}
                  periodSeconds: 1
            """, "apply", "-f", "-")).Ok();
        var running = await WaitPodAsync("probe", "gated", p => p["status"]?["phase"]?.GetValue<string>() == "Running");
        Assert.False(Pods.IsReady(running));
        var ready = await WaitPodAsync("probe", "gated", Pods.IsReady);
        Assert.True(Pods.Container(ready, "c")!["ready"]!.GetValue<bool>());
        (await K.RunAsync("delete", "pod", "gated", "-n", "probe", "--grace-period=1")).Ok();
    }

    [Fact]
    public async Task AProcessPodCannotSeeTheNodesDataButSeesItsVolumes()
    {
        await NamespaceAsync("hidden");
        var data = fixture.Server.DataDir;
        (await K.RunWithInputAsync($$$"""
            apiVersion: v1
            kind: Pod
            metadata: {name: peek, namespace: hidden}
            spec:
              restartPolicy: Never
              containers:
              - name: c
                image: busybox
                command: ["sh", "-c", "ls -A {{{data}}} | wc -l; cat {{{data}}}/token 2>/dev/null || echo no-token; cat /cfg/greeting; echo; cat /etc/hosts | grep -c peek"]
                volumeMounts: [{name: cfg, mountPath: /cfg}]
              volumes:
              - name: cfg
                configMap: {name: peek-cfg}
            ---
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: peek-cfg, namespace: hidden}
            data: {greeting: hello-volume}
            """, "apply", "-f", "-")).Ok();
        await WaitPodAsync("hidden", "peek", p => p["status"]?["phase"]?.GetValue<string>() == "Succeeded");
        var lines = (await K.RunAsync("logs", "peek", "-n", "hidden")).Ok().Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        // The data directory is an empty tmpfs for the container; its volumes and /etc/hosts are still there.
        Assert.Equal("0", lines[0].Trim());
        Assert.Contains("no-token", lines);
        Assert.Contains("hello-volume", lines);
        Assert.Equal("1", lines[^1].Trim());
    }

    [Theory]
    [MemberData(nameof(Kubectl.Versions), MemberType = typeof(Kubectl))]
    public async Task LogsFollowTailTimestampsAndPrevious(string kubectl)
    {
        var k = new Kubectl(kubectl, fixture.Server.Kubeconfig);
        var ns = PerKubectl("logs", kubectl);
        await NamespaceAsync(ns);
        (await k.RunWithInputAsync($$"""
            apiVersion: v1
            kind: Pod
            metadata: {name: counter, namespace: {{ns}}}
            spec:
              restartPolicy: Never
              containers:
              - name: c
                image: busybox
                command: ["sh", "-c", "for i in 1 2 3 4 5; do echo line $i; sleep 0.4; done; echo to stderr >&2"]
            """, "apply", "-f", "-")).Ok();
        await WaitPodAsync(ns, "counter", p => p["status"]?["phase"]?.GetValue<string>() is "Running" or "Succeeded");
        // -f streams until the container ends.
        var followed = (await k.RunAsync("logs", "-f", "counter", "-n", ns)).Ok().Out;
        Assert.Equal("line 1\nline 2\nline 3\nline 4\nline 5\nto stderr\n", followed);
        var pod = await WaitPodAsync(ns, "counter", p => p["status"]?["phase"]?.GetValue<string>() == "Succeeded");
        Assert.Equal("Completed", Pods.Container(pod, "c")!["state"]!["terminated"]!["reason"]!.GetValue<string>());
        Assert.Equal("line 5\nto stderr\n", (await k.RunAsync("logs", "counter", "-n", ns, "--tail=2")).Ok().Out);
        var stamped = (await k.RunAsync("logs", "counter", "-n", ns, "--timestamps", "--tail=1")).Ok().Out;
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z to stderr\n$", stamped);
        Assert.Equal("line", (await k.RunAsync("logs", "counter", "-n", ns, "--limit-bytes=4")).Ok().Out);

        (await k.RunWithInputAsync($$"""
            apiVersion: v1
            kind: Pod
            metadata: {name: crasher, namespace: {{ns}}}
            spec:
              containers:
              - name: c
                image: busybox
                command: ["sh", "-c", "echo attempt; exit 3"]
            """, "apply", "-f", "-")).Ok();
        var crashed = await WaitPodAsync(ns, "crasher", p => Pods.Container(p, "c")?["restartCount"]?.GetValue<int>() >= 1
            && Pods.Container(p, "c")?["lastState"]?["terminated"] is not null);
        var status = Pods.Container(crashed, "c")!;
        Assert.Equal(3, status["lastState"]!["terminated"]!["exitCode"]!.GetValue<int>());
        Assert.Equal("Error", status["lastState"]!["terminated"]!["reason"]!.GetValue<string>());
        Assert.Equal("attempt\n", (await k.RunAsync("logs", "crasher", "-n", ns, "--previous")).Ok().Out);
        var missing = (await k.RunAsync("logs", "counter", "-n", ns, "-c", "nope")).Fails();
        Assert.Contains("container nope is not valid for pod counter", missing.Err, StringComparison.Ordinal);
        (await k.RunAsync("delete", "namespace", ns, "--wait=false")).Ok();
    }

    [Fact]
    public async Task ACrashingContainerBacksOffAndALivenessFailureRestarts()
    {
        await NamespaceAsync("crash");
        (await K.RunWithInputAsync("""
            apiVersion: v1
            kind: Pod
            metadata: {name: loop, namespace: crash}
            spec:
              containers:
              - name: c
                image: busybox
                command: ["sh", "-c", "exit 1"]
            ---
            apiVersion: v1
            kind: Pod
            metadata: {name: unhealthy, namespace: crash}
            spec:
              containers:
              - name: c
                image: busybox
                command: ["sleep", "3600"]
                livenessProbe:
                  tcpSocket: {port: 9}
                  periodSeconds: 1
                  failureThreshold: 2
            """, "apply", "-f", "-")).Ok();
        var backingOff = await WaitPodAsync("crash", "loop", p => Pods.Container(p, "c")?["state"]?["waiting"]?["reason"]?.GetValue<string>() == "CrashLoopBackOff");
        var waiting = Pods.Container(backingOff, "c")!;
        Assert.Contains("back-off 10s restarting failed container=c pod=loop_crash", waiting["state"]!["waiting"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(1, waiting["lastState"]!["terminated"]!["exitCode"]!.GetValue<int>());
        Assert.Equal("Running", backingOff["status"]!["phase"]!.GetValue<string>());
        Assert.Contains("CrashLoopBackOff", (await K.RunAsync("get", "pod", "loop", "-n", "crash")).Ok().Out, StringComparison.Ordinal);

        // A container whose process is killed from outside is restarted, its exit recorded.
        (await K.RunWithInputAsync("""
            apiVersion: v1
            kind: Pod
            metadata: {name: victim, namespace: crash}
            spec:
              containers:
              - name: c
                image: busybox
                command: ["sh", "-c", "read pid rest < /proc/self/stat; echo $pid; exec sleep 3600"]
            """, "apply", "-f", "-")).Ok();
        await WaitPodAsync("crash", "victim", Pods.IsReady);
        var pid = int.Parse((await Eventually.ForAsync(async () => (await K.RunAsync("logs", "victim", "-n", "crash")).Out is { Length: > 0 } o ? o : null)).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        Process.GetProcessById(pid).Kill();
        var killed = await WaitPodAsync("crash", "victim", p => Pods.Container(p, "c")?["restartCount"]?.GetValue<int>() == 1 && Pods.IsReady(p));
        Assert.Equal(137, Pods.Container(killed, "c")!["lastState"]!["terminated"]!["exitCode"]!.GetValue<int>());

        var restarted = await WaitPodAsync("crash", "unhealthy", p => Pods.Container(p, "c")?["restartCount"]?.GetValue<int>() >= 1);
        Assert.NotNull(Pods.Container(restarted, "c")!["lastState"]!["terminated"]);
        var events = (await K.RunAsync("get", "events", "-n", "crash", "--field-selector", "involvedObject.name=unhealthy")).Ok().Out;
        Assert.Contains("Liveness probe failed: dial tcp", events, StringComparison.Ordinal);
        Assert.Contains("failed liveness probe, will be restarted", events, StringComparison.Ordinal);
        (await K.RunAsync("delete", "namespace", "crash", "--wait=false")).Ok();
    }

    [Fact]
    public async Task AMemoryLimitKillsWithOomKilled()
    {
        await NamespaceAsync("oom");
        (await K.RunWithInputAsync("""
            apiVersion: v1
            kind: Pod
            metadata: {name: hog, namespace: oom}
            spec:
              restartPolicy: Never
              containers:
              - name: c
                image: busybox
                command: ["tail", "/dev/zero"]
                resources: {limits: {memory: 32Mi}}
            """, "apply", "-f", "-")).Ok();
        var pod = await WaitPodAsync("oom", "hog", p => p["status"]?["phase"]?.GetValue<string>() == "Failed");
        var terminated = Pods.Container(pod, "c")!["state"]!["terminated"]!;
        Assert.Equal("OOMKilled", terminated["reason"]!.GetValue<string>());
        Assert.Equal(137, terminated["exitCode"]!.GetValue<int>());
        Assert.Contains("OOMKilled", (await K.RunAsync("get", "pod", "hog", "-n", "oom")).Ok().Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConfigMapsSecretsAndTheDownwardApiReachPodsAsEnvironmentAndFiles()
    {
        await NamespaceAsync("config");
        (await K.RunWithInputAsync("""
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: settings, namespace: config}
            data: {greeting: hello, app.conf: "mode=blue"}
            ---
            apiVersion: v1
            kind: Secret
            metadata: {name: creds, namespace: config}
            stringData: {password: s3cret}
            ---
            apiVersion: v1
            kind: Pod
            metadata: {name: reader, namespace: config, labels: {tier: back}}
            spec:
              initContainers:
              - name: first
                image: busybox
                command: ["sh", "-c", "sleep 1; echo from-init > /work/init.txt"]
                volumeMounts: [{name: work, mountPath: /work}]
              - name: second
                image: busybox
                command: ["sh", "-c", "test -f /work/init.txt && echo second-ran >> /work/init.txt"]
                volumeMounts: [{name: work, mountPath: /work}]
              containers:
              - name: c
                image: busybox
                command: ["sh", "-c", "echo \"$GREETING $PASSWORD $POD $MEM $PREFIXED_greeting\"; cat /work/init.txt; cat /etc/creds/password; echo; cat /etc/info/labels; echo; hostname; while :; do cat /etc/settings/app.conf; echo; sleep 1; done"]
                env:
                - {name: GREETING, valueFrom: {configMapKeyRef: {name: settings, key: greeting}}}
                - {name: PASSWORD, valueFrom: {secretKeyRef: {name: creds, key: password}}}
                - {name: POD, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
                - {name: MEM, valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}}
                envFrom: [{prefix: PREFIXED_, configMapRef: {name: settings}}]
                resources: {limits: {memory: 64Mi}}
                volumeMounts:
                - {name: work, mountPath: /work}
                - {name: settings, mountPath: /etc/settings}
                - {name: creds, mountPath: /etc/creds}
                - {name: info, mountPath: /etc/info}
              volumes:
              - {name: work, emptyDir: {}}
              - {name: settings, configMap: {name: settings}}
              - {name: creds, secret: {secretName: creds}}
              - {name: info, downwardAPI: {items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}]}}
            """, "apply", "-f", "-")).Ok();
        var pod = await WaitPodAsync("config", "reader", Pods.IsReady);
        Assert.Equal("Completed", Pods.Container(pod, "first", init: true)!["state"]!["terminated"]!["reason"]!.GetValue<string>());
        var logs = await Eventually.ForAsync(async () => (await K.RunAsync("logs", "reader", "-n", "config")).Out is var o && o.Contains("mode=blue", StringComparison.Ordinal) ? o : null);
        var lines = logs.Split('\n');
        Assert.Equal("hello s3cret reader 64 hello", lines[0]);
        // The second init container ran only after the first had finished.
        Assert.Equal("from-init", lines[1]);
        Assert.Equal("second-ran", lines[2]);
        Assert.Equal("s3cret", lines[3]);
        Assert.Equal("tier=\"back\"", lines[4]);
        Assert.Equal("reader", lines[5]);
        // An edited ConfigMap reaches the mounted file while the pod runs.
        (await K.RunAsync("patch", "configmap", "settings", "-n", "config", "-p", """{"data":{"app.conf":"mode=green"}}""")).Ok();
        await Eventually.ForAsync(async () => (await K.RunAsync("logs", "reader", "-n", "config", "--tail=1")).Out.Contains("mode=green", StringComparison.Ordinal) ? "" : null, TimeSpan.FromSeconds(60));

        // A missing key is a CreateContainerConfigError with upstream's message, and nothing runs.
        (await K.RunWithInputAsync("""
            apiVersion: v1
            kind: Pod
            metadata: {name: broken, namespace: config}
            spec:
              containers:
              - name: c
                image: busybox
                command: ["true"]
                env: [{name: X, valueFrom: {configMapKeyRef: {name: settings, key: nope}}}]
            """, "apply", "-f", "-")).Ok();
        var broken = await WaitPodAsync("config", "broken", p => Pods.Container(p, "c")?["state"]?["waiting"]?["reason"]?.GetValue<string>() == "CreateContainerConfigError");
        Assert.Equal("couldn't find key nope in ConfigMap config/settings", Pods.Container(broken, "c")!["state"]!["waiting"]!["message"]!.GetValue<string>());
        (await K.RunAsync("delete", "namespace", "config", "--wait=false")).Ok();
    }

    [Fact]
    public async Task ExecRunsInTheContainerWithStdinAndExitCodeAndCpCopiesBothWays()
    {
        await NamespaceAsync("exec");
        (await K.RunWithInputAsync("""
            apiVersion: v1
            kind: Pod
            metadata: {name: box, namespace: exec}
            spec:
              containers:
              - name: c
                image: busybox
                command: ["sleep", "3600"]
                env: [{name: FLAVOUR, value: mint}]
                volumeMounts: [{name: scratch, mountPath: /srv}]
              volumes: [{name: scratch, emptyDir: {}}]
            """, "apply", "-f", "-")).Ok();
        await WaitPodAsync("exec", "box", Pods.IsReady);
        Assert.Equal("mint box\n", (await K.RunAsync("exec", "box", "-n", "exec", "--", "sh", "-c", "echo $FLAVOUR $(hostname)")).Ok().Out);
        var piped = await K.RunWithInputAsync("first line\nsecond\n", "exec", "-i", "box", "-n", "exec", "--", "sh", "-c", "wc -l; exit 3");
        Assert.Equal(3, piped.ExitCode);
        Assert.Equal("2", piped.Out.Trim());
        Assert.Contains("command terminated with exit code 3", piped.Err, StringComparison.Ordinal);
        // The emptyDir is the container's own /srv (a bind mount in its mount namespace), and kubectl cp uses tar over exec.
        var local = Path.Combine(fixture.Server.DataDir, "cp-in.txt");
        await File.WriteAllTextAsync(local, "copied in\n");
        (await K.RunAsync("cp", local, "exec/box:/srv/in.txt")).Ok();
        Assert.Equal("copied in\n", (await K.RunAsync("exec", "box", "-n", "exec", "--", "cat", "/srv/in.txt")).Ok().Out);
        Assert.False(File.Exists("/srv/in.txt"), "the pod's /srv must not be the host's");
        var back = Path.Combine(fixture.Server.DataDir, "cp-out.txt");
        (await K.RunAsync("cp", "exec/box:/srv/in.txt", back)).Ok();
        Assert.Equal("copied in\n", await File.ReadAllTextAsync(back));
        var missing = (await K.RunAsync("exec", "box", "-n", "exec", "-c", "nope", "--", "true")).Fails();
        Assert.Contains("container nope is not valid for pod box", missing.Err, StringComparison.Ordinal);
        // kubectl 1.27 speaks SPDY/3.1.
        var k127 = new Kubectl(Kubectl.V127, fixture.Server.Kubeconfig);
        var spdy = await k127.RunWithInputAsync("from stdin\n", "exec", "-i", "box", "-n", "exec", "--", "sh", "-c", "cat; echo $FLAVOUR; echo oops >&2; exit 4");
        Assert.Equal(4, spdy.ExitCode);
        Assert.Equal("from stdin\nmint\n", spdy.Out);
        Assert.Contains("oops", spdy.Err, StringComparison.Ordinal);
        Assert.Equal("copied in\n", (await k127.RunAsync("exec", "box", "-n", "exec", "--", "cat", "/srv/in.txt")).Ok().Out);
    }

    [Theory]
    [MemberData(nameof(Kubectl.Versions), MemberType = typeof(Kubectl))]
    public async Task PortForwardReachesAPodsPort(string kubectl)
    {
        var ns = PerKubectl("pf", kubectl);
        await NamespaceAsync(ns);
        (await K.RunWithInputAsync($$"""
            apiVersion: v1
            kind: Pod
            metadata: {name: web, namespace: {{ns}}}
            spec:
              containers:
              - name: web
                image: python:3
                command: ["sh", "-c", "head -c 3000000 /dev/urandom > /srv/blob && exec python3 -m http.server 8080 --directory /srv"]
                readinessProbe:
                  tcpSocket: {port: 8080}
                  periodSeconds: 1
                volumeMounts:
                - {name: site, mountPath: /srv}
              volumes:
              - name: site
                emptyDir: {}
            """, "apply", "-f", "-")).Ok();
        await WaitPodAsync(ns, "web", Pods.IsReady);
        var local = TugServer.FreePort();
        var psi = new ProcessStartInfo(kubectl) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.Environment["KUBECONFIG"] = fixture.Server.Kubeconfig;
        foreach (var a in new[] { "port-forward", "-n", ns, "pod/web", $"{local}:8080" })
        {
            psi.ArgumentList.Add(a);
        }
        using var forward = Process.Start(psi)!;
        try
        {
            var ready = await Eventually.ForAsync(async () => await forward.StandardOutput.ReadLineAsync() is { } l && l.Contains("Forwarding from", StringComparison.Ordinal) ? l : null, TimeSpan.FromSeconds(30));
            Assert.Contains($"127.0.0.1:{local} -> 8080", ready, StringComparison.Ordinal);
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
            var blob = await http.GetByteArrayAsync($"http://127.0.0.1:{local}/blob");
            var inPod = (await K.RunAsync("exec", "web", "-n", ns, "--", "md5sum", "/srv/blob")).Ok().Out.Split(' ')[0];
            Assert.Equal(3_000_000, blob.Length);
            Assert.Equal(inPod, Convert.ToHexStringLower(System.Security.Cryptography.MD5.HashData(blob)));
            // A second connection over the same session.
            Assert.Equal(System.Net.HttpStatusCode.OK, (await http.GetAsync($"http://127.0.0.1:{local}/")).StatusCode);
        }
        finally
        {
            forward.Kill();
            await forward.WaitForExitAsync();
        }
        (await K.RunAsync("delete", "namespace", ns, "--wait=false")).Ok();
    }

    [Theory]
    [MemberData(nameof(Kubectl.Versions), MemberType = typeof(Kubectl))]
    public async Task ExecWithATerminalHasTheClientsSizeAndFollowsResizes(string kubectl)
    {
        var ns = PerKubectl("tty", kubectl);
        await NamespaceAsync(ns);
        (await K.RunWithInputAsync($$"""
            apiVersion: v1
            kind: Pod
            metadata: {name: box, namespace: {{ns}}}
            spec:
              containers:
              - {name: c, image: busybox, command: ["sleep", "3600"]}
            """, "apply", "-f", "-")).Ok();
        await WaitPodAsync(ns, "box", Pods.IsReady);
        // script(1) gives kubectl a terminal of 123x45, made 80x20 once the first size has been printed; kubectl sends both.
        const string Command = "stty size; tty; echo TERM=$TERM; i=0; while [ \"$(stty size)\" != \"20 80\" ] && [ $i -lt 150 ]; do sleep 0.1; i=$((i+1)); done; stty size; exit 5";
        using var terminal = new TerminalSession(fixture.Server, ns, 123, 45, 80, 20, $"{kubectl} exec -it box -n {ns} -- sh -c '{Command}'");
        await terminal.WaitForAsync("45 123");
        await terminal.ResizeAsync();
        var lines = await terminal.ExitAsync();
        // The command starts at the client's size, on a terminal of its own, and sees the resize.
        Assert.True(lines.Count >= 6, string.Join("\n", lines));
        Assert.Equal("45 123", lines[0]);
        Assert.StartsWith("/dev/pts/", lines[1], StringComparison.Ordinal);
        Assert.Equal("TERM=xterm", lines[2]);
        Assert.Equal("20 80", lines[3]);
        Assert.Contains("command terminated with exit code 5", lines[4], StringComparison.Ordinal);
        Assert.Equal("rc=5", lines[5]);
        (await K.RunAsync("delete", "namespace", ns, "--wait=false")).Ok();
    }

    [Theory]
    [MemberData(nameof(Kubectl.Versions), MemberType = typeof(Kubectl))]
    public async Task AContainerWithATerminalIsAttachedAtTheClientsSizeAndStopsGracefully(string kubectl)
    {
        var ns = PerKubectl("ttyc", kubectl);
        await NamespaceAsync(ns);
        (await K.RunWithInputAsync($$"""
            apiVersion: v1
            kind: Pod
            metadata: {name: box, namespace: {{ns}}}
            spec:
              restartPolicy: Never
              containers:
              - name: c
                image: busybox
                tty: true
                stdin: true
                command: ["sh", "-c", "read go; i=0; while [ \"$(stty size)\" != \"22 111\" ] && [ $i -lt 150 ]; do sleep 0.1; i=$((i+1)); done; stty size; i=0; while [ \"$(stty size)\" != \"30 90\" ] && [ $i -lt 150 ]; do sleep 0.1; i=$((i+1)); done; stty size; tty; echo TERM=$TERM; exit 3"]
            """, "apply", "-f", "-")).Ok();
        await WaitPodAsync(ns, "box", Pods.IsReady);
        // script(1) gives kubectl a 111x22 terminal, made 90x30 once the test has seen the first size. (kubectl attach
        // first sends one more row and column, then the real size, to make programs redraw; the command waits for the real one.)
        using var terminal = new TerminalSession(fixture.Server, ns, 111, 22, 90, 30, $"{kubectl} attach -it box -c c -n {ns}");
        // Attached once kubectl says so; then the command is told to go.
        await terminal.WaitForAsync("If you don't see a command prompt");
        await terminal.TypeAsync("go\n");
        await terminal.WaitForAsync("22 111");
        await terminal.ResizeAsync();
        var lines = await terminal.ExitAsync();
        var output = string.Join("\n", lines);
        Assert.Contains("30 90", lines);
        Assert.Contains(lines, l => l.StartsWith("/dev/pts/", StringComparison.Ordinal));
        Assert.Contains("TERM=xterm", lines);
        // kubectl attach itself ends with 0, as upstream; the container's code is in its status.
        Assert.True(lines.Contains("rc=0"), output);
        Assert.Equal(3, (await WaitPodAsync(ns, "box", p => Pods.Container(p, "c")?["state"]?["terminated"] is not null))["status"]!["containerStatuses"]![0]!["state"]!["terminated"]!["exitCode"]!.GetValue<int>());

        // The command itself gets the stop signal (not the terminal's keeper), and its last words reach the log.
        (await K.RunWithInputAsync($$"""
            apiVersion: v1
            kind: Pod
            metadata: {name: stops, namespace: {{ns}}}
            spec:
              terminationGracePeriodSeconds: 30
              containers:
              - name: c
                image: busybox
                tty: true
                command: ["sh", "-c", "trap 'echo got-term; sleep 3; echo bye; exit 0' TERM; echo ready; while true; do sleep 1; done"]
            """, "apply", "-f", "-")).Ok();
        await WaitPodAsync(ns, "stops", Pods.IsReady);
        var logs = new ProcessStartInfo(kubectl) { RedirectStandardOutput = true, UseShellExecute = false };
        logs.Environment["KUBECONFIG"] = fixture.Server.Kubeconfig;
        foreach (var a in new[] { "logs", "-f", "stops", "-n", ns })
        {
            logs.ArgumentList.Add(a);
        }
        using var follow = Process.Start(logs)!;
        var followed = follow.StandardOutput.ReadToEndAsync();
        await Task.Delay(1000);
        (await K.RunAsync("delete", "pod", "stops", "-n", ns, "--wait=true")).Ok();
        var log = await followed.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Contains("got-term\r\nbye", log, StringComparison.Ordinal);
        (await K.RunAsync("delete", "namespace", ns, "--wait=false")).Ok();
    }

    [Fact]
    public async Task ClientNodeExecsAndPortForwardsOverWebSockets()
    {
        await NamespaceAsync("node-streams");
        (await K.RunWithInputAsync("""
            apiVersion: v1
            kind: Pod
            metadata: {name: web, namespace: node-streams}
            spec:
              containers:
              - name: web
                image: python:3
                command: ["sh", "-c", "head -c 2000000 /dev/urandom > /srv/blob && exec python3 -m http.server 8080 --directory /srv"]
                readinessProbe:
                  tcpSocket: {port: 8080}
                  periodSeconds: 1
                volumeMounts: [{name: site, mountPath: /srv}]
              volumes: [{name: site, emptyDir: {}}]
            """, "apply", "-f", "-")).Ok();
        await WaitPodAsync("node-streams", "web", Pods.IsReady);
        var md5 = (await K.RunAsync("exec", "web", "-n", "node-streams", "--", "md5sum", "/srv/blob")).Ok().Out.Split(' ')[0];
        var output = await ClientLibraryTests.RunAsync("node", "client-node-streams.mjs", fixture.Server.Kubeconfig, "node-streams", "web", "web", "8080");
        Assert.Contains("exec out=\"hello from web\\n\" err=\"warn\\n\" status=Success", output, StringComparison.Ordinal);
        Assert.Contains("exec stdin out=12 status=Failure reason=NonZeroExitCode code=3", output, StringComparison.Ordinal);
        // Two connections, each forwarded over its own WebSocket (v4.channel.k8s.io, port-prefixed channels).
        Assert.Equal(2, output.Split('\n').Count(l => l == $"portforward /blob bytes=2000000 md5={md5}"));
        (await K.RunAsync("delete", "namespace", "node-streams", "--wait=false")).Ok();
    }

    [Theory]
    [MemberData(nameof(Kubectl.Versions), MemberType = typeof(Kubectl))]
    public async Task RunWithStdinAttachesAndEndsTheInputAfterTheFirstAttach(string kubectl)
    {
        var k = new Kubectl(kubectl, fixture.Server.Kubeconfig);
        var name = PerKubectl("lines", kubectl);
        var run = await k.RunWithInputAsync("a\nb\nc\n", "run", "-i", "--rm", name, "--image=busybox", "--restart=Never", "--command", "--", "wc", "-l");
        run.Ok();
        Assert.Equal("3", run.Out.Split('\n').First(l => l.Trim().Length > 0 && !l.StartsWith("pod ", StringComparison.Ordinal)).Trim());
        Assert.Contains($"pod \"{name}\" deleted", run.Out + run.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AttachStreamsTheOutputFromNowOn()
    {
        await NamespaceAsync("attach");
        (await K.RunWithInputAsync("""
            apiVersion: v1
            kind: Pod
            metadata: {name: ticker, namespace: attach}
            spec:
              containers:
              - name: c
                image: busybox
                command: ["sh", "-c", "i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.3; done"]
            """, "apply", "-f", "-")).Ok();
        await WaitPodAsync("attach", "ticker", Pods.IsReady);
        await Task.Delay(1000);
        var psi = new ProcessStartInfo(Kubectl.V132) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.Environment["KUBECONFIG"] = fixture.Server.Kubeconfig;
        foreach (var a in new[] { "attach", "ticker", "-n", "attach" })
        {
            psi.ArgumentList.Add(a);
        }
        using var attach = Process.Start(psi)!;
        var lines = new List<string>();
        while (lines.Count < 3 && await attach.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30)) is { } line)
        {
            lines.Add(line);
        }
        attach.Kill();
        await attach.WaitForExitAsync();
        // Consecutive ticks, none of them the first: what was written before attaching is in the log, not here.
        var numbers = lines.Select(l => int.Parse(l.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.True(numbers[0] > 1, string.Join('|', lines));
        Assert.Equal(Enumerable.Range(numbers[0], 3), numbers);
        (await K.RunAsync("delete", "namespace", "attach", "--wait=false")).Ok();
    }

    [Fact]
    public async Task HostNetworkPodsShareTheNodesAddress()
    {
        await NamespaceAsync("hostnet");
        var port = TugServer.FreePort();
        (await K.RunWithInputAsync($$"""
            apiVersion: v1
            kind: Pod
            metadata: {name: onhost, namespace: hostnet}
            spec:
              hostNetwork: true
              containers:
              - name: web
                image: python:3
                command: ["python3", "-m", "http.server", "{{port}}", "--bind", "127.0.0.1", "--directory", "/etc"]
                readinessProbe:
                  httpGet: {path: /hostname, port: {{port}}}
                  periodSeconds: 1
            """, "apply", "-f", "-")).Ok();
        var pod = await WaitPodAsync("hostnet", "onhost", Pods.IsReady);
        Assert.Equal(pod["status"]!["hostIP"]!.GetValue<string>(), pod["status"]!["podIP"]!.GetValue<string>());
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        Assert.Equal(System.Net.HttpStatusCode.OK, (await http.GetAsync($"http://127.0.0.1:{port}/hostname")).StatusCode);
        (await K.RunAsync("delete", "namespace", "hostnet", "--wait=false")).Ok();
    }

    [Fact]
    public async Task ARolloutWithoutProgressExceedsItsDeadline()
    {
        await NamespaceAsync("stuck");
        (await K.RunWithInputAsync("""
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: stuck, namespace: stuck}
            spec:
              replicas: 1
              progressDeadlineSeconds: 4
              selector: {matchLabels: {app: stuck}}
              template:
                metadata: {labels: {app: stuck}}
                spec:
                  containers:
                  - name: c
                    image: busybox
                    command: ["sleep", "3600"]
                    readinessProbe:
                      exec: {command: ["false"]}
                      periodSeconds: 1
            """, "apply", "-f", "-")).Ok();
        var status = await K.RunAsync("rollout", "status", "deployment/stuck", "-n", "stuck", "--timeout=60s");
        Assert.NotEqual(0, status.ExitCode);
        Assert.Contains("deployment \"stuck\" exceeded its progress deadline", status.Err, StringComparison.Ordinal);
        var d = JsonNode.Parse((await K.RunAsync("get", "deployment", "stuck", "-n", "stuck", "-o", "json")).Ok().Out)!;
        var progressing = d["status"]!["conditions"]!.AsArray().First(c => c!["type"]!.GetValue<string>() == "Progressing")!;
        Assert.Equal(("False", "ProgressDeadlineExceeded"), (progressing["status"]!.GetValue<string>(), progressing["reason"]!.GetValue<string>()));
        Assert.Matches("ReplicaSet \"stuck-[a-z0-9]+\" has timed out progressing.", progressing["message"]!.GetValue<string>());
        (await K.RunAsync("delete", "namespace", "stuck", "--wait=false")).Ok();
    }

    [Fact]
    public async Task DescribeNodeShowsTheMachineAndTheAgentsEvents()
    {
        var describe = await Eventually.ForAsync(async () =>
            (await K.RunAsync("describe", "nodes")).Out is var o && o.Contains("NodeReady", StringComparison.Ordinal) ? o : null, TimeSpan.FromSeconds(30));
        Assert.Matches(@"Normal\s+Starting\s+.*kubelet\s+Starting kubelet\.", describe);
        Assert.Matches(@"Normal\s+NodeReady\s+.*kubelet\s+Node node-\S+ status is now: NodeReady", describe);
        Assert.Matches(@"pods:\s+110", describe);
        Assert.Matches($@"cpu:\s+{Environment.ProcessorCount}\b", describe);
        Assert.Matches(@"Container Runtime Version:\s+process://", describe);
        Assert.Matches(@"PodCIDR:\s+10\.42\.\d+\.0/24", describe);
    }

    [Fact]
    public async Task TopShowsPodAndNodeUsage()
    {
        await NamespaceAsync("top");
        (await K.RunWithInputAsync("""
            apiVersion: v1
            kind: Pod
            metadata: {name: burner, namespace: top, labels: {app: burner}}
            spec:
              containers:
              - name: c
                image: busybox
                command: ["sh", "-c", "while :; do :; done"]
                resources: {limits: {cpu: 500m}}
            """, "apply", "-f", "-")).Ok();
        await WaitPodAsync("top", "burner", Pods.IsReady);
        // Two samples (10 s apart) are needed for a rate; the 500m quota caps the busy loop.
        var top = await Eventually.ForAsync(async () =>
            await K.RunAsync("top", "pod", "-n", "top", "-l", "app=burner", "--no-headers") is { ExitCode: 0 } r && r.Out.Contains("burner", StringComparison.Ordinal) ? r.Out : null, TimeSpan.FromSeconds(60));
        var cpu = int.Parse(System.Text.RegularExpressions.Regex.Match(top, @"burner\s+(\d+)m").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        // Busy, and held under its 500m quota (a shared machine may give it less than the quota).
        Assert.InRange(cpu, 20, 650);
        var node = (await K.RunAsync("top", "node", "--no-headers")).Ok().Out;
        Assert.Matches(@"^node-\S+\s+\d+m\s+\d+%\s+\d+Mi\s+\d+%", node);
        (await K.RunAsync("delete", "namespace", "top", "--wait=false")).Ok();
    }

    [Fact]
    public async Task SecurityContextUsersApplyToTheProcessAndToExec()
    {
        await NamespaceAsync("users");
        (await K.RunWithInputAsync("""
            apiVersion: v1
            kind: Pod
            metadata: {name: nobody, namespace: users}
            spec:
              securityContext: {runAsUser: 65534, runAsGroup: 65534}
              containers:
              - name: c
                image: busybox
                command: ["sh", "-c", "id -u; id -g; touch /scratch/written && echo wrote; sleep 3600"]
                volumeMounts: [{name: scratch, mountPath: /scratch}]
              volumes: [{name: scratch, emptyDir: {}}]
            ---
            apiVersion: v1
            kind: Pod
            metadata: {name: rooty, namespace: users}
            spec:
              securityContext: {runAsNonRoot: true}
              containers: [{name: c, image: busybox, command: ["true"]}]
            """, "apply", "-f", "-")).Ok();
        await WaitPodAsync("users", "nobody", Pods.IsReady);
        var logs = await Eventually.ForAsync(async () => (await K.RunAsync("logs", "nobody", "-n", "users")).Out is var o && o.Contains("wrote", StringComparison.Ordinal) ? o : null);
        Assert.Equal("65534\n65534\nwrote\n", logs);
        Assert.Equal("65534\n", (await K.RunAsync("exec", "nobody", "-n", "users", "--", "id", "-u")).Ok().Out);
        var rooty = await WaitPodAsync("users", "rooty", p => Pods.Container(p, "c")?["state"]?["waiting"]?["reason"]?.GetValue<string>() == "CreateContainerConfigError");
        Assert.StartsWith("container has runAsNonRoot and image will run as root", Pods.Container(rooty, "c")!["state"]!["waiting"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);
        (await K.RunAsync("delete", "namespace", "users", "--wait=false")).Ok();
    }

    [Fact]
    public async Task APodWithoutACommandFailsWithAClearReason()
    {
        await NamespaceAsync("nocmd");
        (await K.RunWithInputAsync("""
            apiVersion: v1
            kind: Pod
            metadata: {name: nginx, namespace: nocmd}
            spec:
              containers: [{name: nginx, image: nginx}]
            """, "apply", "-f", "-")).Ok();
        var pod = await WaitPodAsync("nocmd", "nginx", p => Pods.Container(p, "nginx")?["state"]?["waiting"]?["reason"]?.GetValue<string>() == "CreateContainerConfigError");
        Assert.Contains("has no command", Pods.Container(pod, "nginx")!["state"]!["waiting"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Contains("CreateContainerConfigError", (await K.RunAsync("get", "pod", "nginx", "-n", "nocmd")).Ok().Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task APodPastItsActiveDeadlineIsStoppedAndFails()
    {
        await NamespaceAsync("deadline");
        (await K.RunWithInputAsync("""
            apiVersion: v1
            kind: Pod
            metadata: {name: slow, namespace: deadline}
            spec:
              activeDeadlineSeconds: 3
              terminationGracePeriodSeconds: 2
              containers: [{name: c, image: busybox, command: ["sleep", "3600"]}]
            """, "apply", "-f", "-")).Ok();
        // As upstream's kubelet, the phase turns Failed when the deadline passes and the container's state follows once
        // it has been stopped (a status write in between may show the first without the second).
        var pod = await WaitPodAsync("deadline", "slow", p => p["status"]?["phase"]?.GetValue<string>() == "Failed" && Pods.Container(p, "c")?["state"]?["terminated"] is not null, 60);
        Assert.Equal("DeadlineExceeded", pod["status"]!["reason"]!.GetValue<string>());
        Assert.Equal("Pod was active on the node longer than the specified deadline", pod["status"]!["message"]!.GetValue<string>());
        Assert.NotNull(Pods.Container(pod, "c")!["state"]!["terminated"]);
        Assert.Equal(0, Pods.Container(pod, "c")!["restartCount"]!.GetValue<int>());
        // The printer's rules put the stopped container's reason in STATUS, as upstream's kubelet reports it.
        Assert.Matches(@"(?m)^slow\s+0/1\s+Error\s+0\s", (await K.RunAsync("get", "pod", "slow", "-n", "deadline")).Ok().Out);
        Assert.Equal("Failed DeadlineExceeded", (await K.RunAsync("get", "pod", "slow", "-n", "deadline", "-o", "jsonpath={.status.phase} {.status.reason}")).Ok().Out);
        Assert.Contains("Pod was active on the node longer than the specified deadline", (await K.RunAsync("get", "events", "-n", "deadline", "--field-selector", "reason=DeadlineExceeded")).Ok().Out, StringComparison.Ordinal);
        // The container stays stopped.
        await Task.Delay(2000);
        Assert.Equal(0, Pods.Container(await fixture.Server.PodAsync("deadline", "slow"), "c")!["restartCount"]!.GetValue<int>());
    }

    [Fact]
    public async Task DeletionHonoursTheGracePeriod()
    {
        await NamespaceAsync("grace");
        (await K.RunWithInputAsync("""
            apiVersion: v1
            kind: Pod
            metadata: {name: polite, namespace: grace}
            spec:
              terminationGracePeriodSeconds: 20
              containers:
              - name: c
                image: busybox
                command: ["sh", "-c", "trap 'echo stopping; sleep 2; exit 0' TERM; while :; do sleep 0.2; done"]
            ---
            apiVersion: v1
            kind: Pod
            metadata: {name: stubborn, namespace: grace}
            spec:
              terminationGracePeriodSeconds: 3
              containers:
              - name: c
                image: busybox
                command: ["sh", "-c", "trap '' TERM; while :; do sleep 0.2; done"]
            """, "apply", "-f", "-")).Ok();
        await WaitPodAsync("grace", "polite", Pods.IsReady);
        await WaitPodAsync("grace", "stubborn", Pods.IsReady);
        var sw = Stopwatch.StartNew();
        (await K.RunAsync("delete", "pod", "polite", "-n", "grace", "--timeout=60s")).Ok();
        var polite = sw.Elapsed;
        sw.Restart();
        (await K.RunAsync("delete", "pod", "stubborn", "-n", "grace", "--timeout=60s")).Ok();
        var stubborn = sw.Elapsed;
        // The polite pod's handler takes 2 s and ends it well before its 20 s grace; the stubborn one is killed after its 3 s.
        Assert.InRange(polite.TotalSeconds, 1.9, 15);
        Assert.InRange(stubborn.TotalSeconds, 2.9, 15);
    }
    /// <summary>
    /// A kubectl command run on a terminal of its own (script(1)) of the first size; <see cref="ResizeAsync"/> gives the
    /// terminal the second size (kubectl then sends it on). Output is collected line by line.
    /// </summary>
    private sealed class TerminalSession : IDisposable
    {
        private readonly Process _script;
        private readonly List<string> _lines = [];
        private readonly Task _reading;
        private readonly string _resize;

        public TerminalSession(TugServer server, string name, int columns, int rows, int newColumns, int newRows, string command)
        {
            _resize = Path.Combine(server.DataDir, name + ".resize");
            var psi = new ProcessStartInfo("script") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            psi.Environment["KUBECONFIG"] = server.Kubeconfig;
            foreach (var a in new[] { "-qec", $"stty cols {columns} rows {rows}; (while [ ! -e {_resize} ]; do sleep 0.1; done; stty cols {newColumns} rows {newRows} </dev/tty) & {command}; echo rc=$?", "/dev/null" })
            {
                psi.ArgumentList.Add(a);
            }
            _script = Process.Start(psi)!;
            _reading = Task.Run(async () =>
            {
                while (await _script.StandardOutput.ReadLineAsync() is { } line)
                {
                    lock (_lines)
                    {
                        _lines.Add(line.TrimEnd('\r'));
                    }
                }
            });
        }

        public Task WaitForAsync(string text) => Eventually.ForAsync(() =>
        {
            lock (_lines)
            {
                return Task.FromResult(_lines.Any(l => l.Contains(text, StringComparison.Ordinal)) ? text : null);
            }
        }, TimeSpan.FromSeconds(30));

        public async Task TypeAsync(string keys)
        {
            await _script.StandardInput.WriteAsync(keys);
            await _script.StandardInput.FlushAsync();
        }

        public Task ResizeAsync() => File.WriteAllTextAsync(_resize, string.Empty);

        /// <summary>Waits for the command to end; the non-empty lines it printed.</summary>
        public async Task<List<string>> ExitAsync()
        {
            await _script.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
            await _reading;
            lock (_lines)
            {
                return _lines.Where(l => l.Length > 0).ToList();
            }
        }

        public void Dispose()
        {
            if (!_script.HasExited)
            {
                _script.Kill(entireProcessTree: true);
            }
            _script.Dispose();
        }
    }

}

/// <summary>Restarting the agent (here with its server) leaves running pods alone: re-adopted, not restarted.</summary>
public sealed class NodeAgentRestartTests : IAsyncLifetime
{
    private readonly AgentClusterFixture _cluster = new();

    public Task InitializeAsync() => _cluster.InitializeAsync();

    public Task DisposeAsync() => _cluster.DisposeAsync();

    [Fact]
    public async Task PodsKeepRunningAcrossAnAgentRestartWithTheirStatusIntact()
    {
        var k = new Kubectl(Kubectl.V132, _cluster.Server.Kubeconfig);
        (await k.RunWithInputAsync("""
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: steady}
            spec:
              replicas: 2
              selector: {matchLabels: {app: steady}}
              template:
                metadata: {labels: {app: steady}}
                spec:
                  containers:
                  - name: c
                    image: busybox
                    command: ["sh", "-c", "echo started; while :; do sleep 0.5; done"]
                    readinessProbe: {exec: {command: ["true"]}, periodSeconds: 1}
            """, "apply", "-f", "-")).Ok();
        (await k.RunAsync("rollout", "status", "deployment/steady", "--timeout=90s")).Ok();
        var before = await _cluster.Server.PodsAsync("default", "app=steady");
        string Id(JsonObject p) => Pods.Container(p, "c")!["containerID"]!.GetValue<string>();
        var ids = before.ToDictionary(p => p["metadata"]!["name"]!.GetValue<string>(), Id);

        await _cluster.Server.StopAsync();
        await _cluster.Server.StartAsync();
        // Let the restarted agent sync and run its probes a few times.
        await Task.Delay(4000);
        var after = await _cluster.Server.PodsAsync("default", "app=steady");
        Assert.Equal(ids.Keys.Order(), after.Select(p => p["metadata"]!["name"]!.GetValue<string>()).Order());
        Assert.All(after, p =>
        {
            Assert.Equal(ids[p["metadata"]!["name"]!.GetValue<string>()], Id(p));
            Assert.Equal(0, Pods.Container(p, "c")!["restartCount"]!.GetValue<int>());
            Assert.True(Pods.IsReady(p));
        });
        // Logs written before the restart are still there, and the pods still answer to deletion.
        Assert.Equal("started\n", (await k.RunAsync("logs", after[0]["metadata"]!["name"]!.GetValue<string>())).Ok().Out);
        (await k.RunAsync("delete", "deployment", "steady", "--cascade=foreground", "--timeout=60s")).Ok();
        Assert.Empty(await _cluster.Server.PodsAsync("default", "app=steady"));
    }
}
