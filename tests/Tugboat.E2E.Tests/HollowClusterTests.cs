using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Tugboat.E2E.Tests;

/// <summary>The everyday workflow against tug server, its scheduler and controllers, and three hollow nodes, with real kubectl.</summary>
public sealed class HollowClusterTests(HollowClusterFixture fixture) : IClassFixture<HollowClusterFixture>
{
    private Kubectl K => new(Kubectl.V132, fixture.Server.Kubeconfig);

    private const string Web = """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web}
        spec:
          replicas: 3
          strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec:
              containers:
              - name: web
                image: nginx:1.25
                resources: {requests: {cpu: 100m, memory: 64Mi}}
        """;

    [Fact]
    public async Task DeploymentRollsOutScalesUpdatesWithinItsBoundsAndRollsBack()
    {
        var k = K;
        (await k.RunAsync("create", "namespace", "wf")).Ok();
        (await k.RunWithInputAsync(Web, "apply", "-n", "wf", "-f", "-")).Ok();
        Assert.Contains("successfully rolled out", (await k.RunAsync("rollout", "status", "deploy/web", "-n", "wf", "--timeout=60s")).Ok().Out);
        var pods = await fixture.Server.PodsAsync("wf", "app=web");
        Assert.Equal(3, pods.Count);
        Assert.All(pods, p => Assert.Equal("Running", p["status"]!["phase"]!.GetValue<string>()));
        // Least-allocated scoring spreads identical pods (other tests' pods share these nodes, so at least two).
        Assert.True(pods.Select(p => p["spec"]!["nodeName"]!.GetValue<string>()).Distinct().Count() >= 2);

        // The controllers record what they did, as upstream's do.
        Assert.Matches(@"Normal\s+ScalingReplicaSet\s+.*deployment-controller\s+Scaled up replica set web-[a-z0-9]+ from 0 to 3", (await k.RunAsync("describe", "deploy/web", "-n", "wf")).Ok().Out);
        Assert.Matches(@"Normal\s+SuccessfulCreate\s+.*replicaset-controller\s+Created pod: web-", (await k.RunAsync("describe", "rs", "-n", "wf")).Ok().Out);
        (await k.RunAsync("scale", "deploy/web", "-n", "wf", "--replicas=5")).Ok();
        (await k.RunAsync("rollout", "status", "deploy/web", "-n", "wf", "--timeout=60s")).Ok();
        Assert.Equal(5, (await fixture.Server.PodsAsync("wf", "app=web")).Count(Pods.IsReady));

        // A rolling update with maxSurge=1, maxUnavailable=0: at every observed moment at most 6 pods exist (not being
        // deleted) and at least 5 of them are ready.
        using var watching = new CancellationTokenSource();
        var violations = new List<string>();
        var observer = Task.Run(async () =>
        {
            while (!watching.IsCancellationRequested)
            {
                var live = (await fixture.Server.PodsAsync("wf", "app=web")).Where(p => p["metadata"]!["deletionTimestamp"] is null).ToList();
                if (live.Count > 6 || live.Count(Pods.IsReady) < 5)
                {
                    violations.Add($"{live.Count} pods, {live.Count(Pods.IsReady)} ready");
                }
                await Task.Delay(50);
            }
        });
        Assert.Contains("image updated", (await k.RunAsync("set", "image", "deploy/web", "-n", "wf", "web=nginx:1.26")).Ok().Out);
        (await k.RunAsync("rollout", "status", "deploy/web", "-n", "wf", "--timeout=90s")).Ok();
        await watching.CancelAsync();
        await observer;
        Assert.Empty(violations);
        var updated = await fixture.Server.PodsAsync("wf", "app=web");
        Assert.Equal(5, updated.Count(p => p["metadata"]!["deletionTimestamp"] is null && p["spec"]!["containers"]![0]!["image"]!.GetValue<string>() == "nginx:1.26"));

        var history = (await k.RunAsync("rollout", "history", "deploy/web", "-n", "wf")).Ok().Out;
        Assert.Matches(@"(?m)^1\s", history);
        Assert.Matches(@"(?m)^2\s", history);
        Assert.Contains("rolled back", (await k.RunAsync("rollout", "undo", "deploy/web", "-n", "wf")).Ok().Out);
        (await k.RunAsync("rollout", "status", "deploy/web", "-n", "wf", "--timeout=90s")).Ok();
        Assert.Equal("nginx:1.25", (await k.RunAsync("get", "deploy/web", "-n", "wf", "-o", "jsonpath={.spec.template.spec.containers[0].image}")).Ok().Out);

        // Pause holds template changes back; resume rolls them out.
        (await k.RunAsync("rollout", "pause", "deploy/web", "-n", "wf")).Ok();
        (await k.RunAsync("set", "image", "deploy/web", "-n", "wf", "web=nginx:1.27")).Ok();
        await Task.Delay(1500);
        Assert.DoesNotContain(await fixture.Server.PodsAsync("wf", "app=web"), p => p["spec"]!["containers"]![0]!["image"]!.GetValue<string>() == "nginx:1.27");
        (await k.RunAsync("rollout", "resume", "deploy/web", "-n", "wf")).Ok();
        (await k.RunAsync("rollout", "status", "deploy/web", "-n", "wf", "--timeout=90s")).Ok();

        // A deleted pod is replaced.
        var victim = (await fixture.Server.PodsAsync("wf", "app=web")).First(p => p["metadata"]!["deletionTimestamp"] is null)["metadata"]!["name"]!.GetValue<string>();
        (await k.RunAsync("delete", "pod", victim, "-n", "wf")).Ok();
        // rollout status may answer from a status written before the deletion was seen, so wait for the pods themselves.
        await WaitForAsync(async () =>
        {
            var after = (await fixture.Server.PodsAsync("wf", "app=web")).Where(p => p["metadata"]!["deletionTimestamp"] is null).ToList();
            return after.Count(Pods.IsReady) == 5 && after.All(p => p["metadata"]!["name"]!.GetValue<string>() != victim) ? new JsonObject() : null;
        });
    }

    [Fact]
    public async Task UnschedulablePodsSayWhyAndAreScheduledOnceTheyFit()
    {
        var k = K;
        (await k.RunAsync("create", "namespace", "sched")).Ok();
        (await k.RunAsync("taint", "nodes", "hollow-0", "dedicated=db:NoSchedule")).Ok();
        try
        {
            (await k.RunWithInputAsync("""
                apiVersion: v1
                kind: Pod
                metadata: {name: pinned}
                spec:
                  nodeSelector: {kubernetes.io/hostname: hollow-0}
                  containers: [{name: c, image: nginx}]
                """, "apply", "-n", "sched", "-f", "-")).Ok();
            const string expected = "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: db}, 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.";
            var condition = await WaitForAsync(async () =>
            {
                var c = JsonNode.Parse((await k.RunAsync("get", "pod", "pinned", "-n", "sched", "-o", "json")).Ok().Out)!["status"]?["conditions"]?.AsArray()
                    .FirstOrDefault(c => c?["type"]?.GetValue<string>() == "PodScheduled");
                return c?["status"]?.GetValue<string>() == "False" ? c : null;
            });
            Assert.Equal("Unschedulable", condition["reason"]!.GetValue<string>());
            Assert.Equal(expected, condition["message"]!.GetValue<string>());
            var describe = (await k.RunAsync("describe", "pod", "pinned", "-n", "sched")).Ok().Out;
            Assert.Matches(@"Warning\s+FailedScheduling\s+.*default-scheduler\s+" + System.Text.RegularExpressions.Regex.Escape(expected), describe);

            // Removing the taint is a cluster event: the parked pod is tried again and lands.
            (await k.RunAsync("taint", "nodes", "hollow-0", "dedicated=db:NoSchedule-")).Ok();
            Assert.Contains("condition met", (await k.RunAsync("wait", "pod/pinned", "-n", "sched", "--for=condition=Ready", "--timeout=60s")).Ok().Out);
            Assert.Equal("hollow-0", (await k.RunAsync("get", "pod", "pinned", "-n", "sched", "-o", "jsonpath={.spec.nodeName}")).Ok().Out);
            Assert.Contains("Successfully assigned sched/pinned to hollow-0", (await k.RunAsync("describe", "pod", "pinned", "-n", "sched")).Ok().Out);
        }
        finally
        {
            await k.RunAsync("taint", "nodes", "hollow-0", "dedicated=db:NoSchedule-");
        }

        // More cpu than any node has.
        (await k.RunAsync("run", "big", "-n", "sched", "--image=nginx", "--overrides", """{"spec":{"containers":[{"name":"big","image":"nginx","resources":{"requests":{"cpu":"5"}}}]}}""")).Ok();
        var big = await WaitForAsync(async () =>
        {
            var c = JsonNode.Parse((await k.RunAsync("get", "pod", "big", "-n", "sched", "-o", "json")).Ok().Out)!["status"]?["conditions"]?.AsArray()
                .FirstOrDefault(c => c?["type"]?.GetValue<string>() == "PodScheduled");
            return c?["status"]?.GetValue<string>() == "False" ? c : null;
        });
        Assert.Equal("0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.", big["message"]!.GetValue<string>());
        (await k.RunAsync("delete", "pod", "big", "-n", "sched")).Ok();
    }

    [Fact]
    public async Task JobsCompleteOnHollowNodesOrHitTheirBackoffLimit()
    {
        var k = K;
        (await k.RunAsync("create", "namespace", "jobs")).Ok();
        (await k.RunWithInputAsync("""
            apiVersion: batch/v1
            kind: Job
            metadata: {name: five}
            spec:
              completions: 5
              parallelism: 2
              template:
                metadata: {annotations: {hollow.tugboat.dev/run-seconds: "0.5"}}
                spec:
                  restartPolicy: Never
                  containers: [{name: c, image: busybox, command: ["true"]}]
            ---
            apiVersion: batch/v1
            kind: Job
            metadata: {name: failing}
            spec:
              backoffLimit: 1
              template:
                metadata: {annotations: {hollow.tugboat.dev/run-seconds: "0.2", hollow.tugboat.dev/exit-code: "3"}}
                spec:
                  restartPolicy: Never
                  containers: [{name: c, image: busybox, command: ["false"]}]
            """, "apply", "-n", "jobs", "-f", "-")).Ok();
        Assert.Contains("condition met", (await k.RunAsync("wait", "job/five", "-n", "jobs", "--for=condition=Complete", "--timeout=90s")).Ok().Out);
        Assert.Equal("5", (await k.RunAsync("get", "job/five", "-n", "jobs", "-o", "jsonpath={.status.succeeded}")).Ok().Out);
        Assert.Contains("condition met", (await k.RunAsync("wait", "job/failing", "-n", "jobs", "--for=condition=Failed", "--timeout=90s")).Ok().Out);
        Assert.Equal("BackoffLimitExceeded", (await k.RunAsync("get", "job/failing", "-n", "jobs", "-o", "jsonpath={.status.conditions[?(@.type==\"Failed\")].reason}")).Ok().Out);
        var failed = await fixture.Server.PodsAsync("jobs", "job-name=failing");
        Assert.All(failed, p => Assert.Equal(3, p["status"]!["containerStatuses"]![0]!["state"]!["terminated"]!["exitCode"]!.GetValue<int>()));

        // podFailurePolicy: exit code 42 fails the Job at once; exit code 5 is ignored (not counted against backoffLimit 0).
        (await k.RunWithInputAsync("""
            apiVersion: batch/v1
            kind: Job
            metadata: {name: policy-fail}
            spec:
              backoffLimit: 6
              podFailurePolicy:
                rules:
                - action: Ignore
                  onExitCodes: {operator: In, values: [5]}
                - action: FailJob
                  onExitCodes: {containerName: c, operator: In, values: [42]}
              template:
                metadata: {annotations: {hollow.tugboat.dev/run-seconds: "0.2", hollow.tugboat.dev/exit-code: "42"}}
                spec:
                  restartPolicy: Never
                  containers: [{name: c, image: busybox, command: ["false"]}]
            ---
            apiVersion: batch/v1
            kind: Job
            metadata: {name: policy-ignore}
            spec:
              backoffLimit: 0
              podFailurePolicy:
                rules:
                - action: Ignore
                  onExitCodes: {operator: In, values: [5]}
              template:
                metadata: {annotations: {hollow.tugboat.dev/run-seconds: "0.2", hollow.tugboat.dev/exit-code: "5"}}
                spec:
                  restartPolicy: Never
                  containers: [{name: c, image: busybox, command: ["false"]}]
            """, "apply", "-n", "jobs", "-f", "-")).Ok();
        Assert.Contains("condition met", (await k.RunAsync("wait", "job/policy-fail", "-n", "jobs", "--for=condition=Failed", "--timeout=60s")).Ok().Out);
        var policyFailed = JsonNode.Parse((await k.RunAsync("get", "job/policy-fail", "-n", "jobs", "-o", "json")).Ok().Out)!;
        var condition = policyFailed["status"]!["conditions"]!.AsArray().First(c => c!["type"]!.GetValue<string>() == "Failed")!;
        Assert.Equal("PodFailurePolicy", condition["reason"]!.GetValue<string>());
        Assert.Matches(@"^Container c for pod jobs/policy-fail-\w+ failed with exit code 42 matching FailJob rule at index 1$", condition["message"]!.GetValue<string>());
        Assert.Single(await fixture.Server.PodsAsync("jobs", "job-name=policy-fail"));
        // Ignored failures are replaced without failing the Job or counting.
        await WaitForAsync(async () => (await fixture.Server.PodsAsync("jobs", "job-name=policy-ignore")).Count(p => p["status"]?["phase"]?.GetValue<string>() == "Failed") >= 2 ? new JsonObject() : null);
        var ignored = JsonNode.Parse((await k.RunAsync("get", "job/policy-ignore", "-n", "jobs", "-o", "json")).Ok().Out)!;
        Assert.Null(ignored["status"]!["failed"]);
        Assert.DoesNotContain(ignored["status"]!["conditions"]?.AsArray() ?? [], c => c!["type"]!.GetValue<string>() == "Failed");
        (await k.RunAsync("delete", "job", "policy-ignore", "-n", "jobs")).Ok();

        // ttlSecondsAfterFinished: the finished Job goes, and its pods with it.
        (await k.RunWithInputAsync("""
            apiVersion: batch/v1
            kind: Job
            metadata: {name: shortlived}
            spec:
              ttlSecondsAfterFinished: 2
              template:
                metadata: {annotations: {hollow.tugboat.dev/run-seconds: "0.2"}}
                spec:
                  restartPolicy: Never
                  containers: [{name: c, image: busybox, command: ["true"]}]
            """, "apply", "-n", "jobs", "-f", "-")).Ok();
        Assert.Contains("condition met", (await k.RunAsync("wait", "job/shortlived", "-n", "jobs", "--for=condition=Complete", "--timeout=90s")).Ok().Out);
        Assert.Contains("condition met", (await k.RunAsync("wait", "job/shortlived", "-n", "jobs", "--for=delete", "--timeout=60s")).Ok().Out);
        await WaitForAsync(async () => (await fixture.Server.PodsAsync("jobs", "job-name=shortlived")).Count == 0 ? new JsonObject() : null);
    }

    [Fact]
    public async Task DaemonSetRunsOnEveryNodeButATaintedOneAndRollsUpdates()
    {
        var k = K;
        (await k.RunAsync("create", "namespace", "ds")).Ok();
        (await k.RunAsync("taint", "nodes", "hollow-2", "ds-test=keep-out:NoSchedule")).Ok();
        try
        {
            (await k.RunWithInputAsync("""
                apiVersion: apps/v1
                kind: DaemonSet
                metadata: {name: agent}
                spec:
                  selector: {matchLabels: {app: agent}}
                  template:
                    metadata: {labels: {app: agent}}
                    spec:
                      containers: [{name: a, image: busybox:1.36}]
                """, "apply", "-n", "ds", "-f", "-")).Ok();
            Assert.Contains("successfully rolled out", (await k.RunAsync("rollout", "status", "ds/agent", "-n", "ds", "--timeout=60s")).Ok().Out);
            var pods = await fixture.Server.PodsAsync("ds", "app=agent");
            Assert.Equal(["hollow-0", "hollow-1"], pods.Select(p => p["spec"]!["nodeName"]!.GetValue<string>()).Order());
            Assert.All(pods, p => Assert.True(Pods.IsReady(p)));
            var status = JsonNode.Parse((await k.RunAsync("get", "ds", "agent", "-n", "ds", "-o", "json")).Ok().Out)!["status"]!;
            Assert.Equal((2, 2, 2), (status["desiredNumberScheduled"]!.GetValue<int>(), status["currentNumberScheduled"]!.GetValue<int>(), status["numberReady"]!.GetValue<int>()));
            Assert.Matches(@"(?m)^agent\s+2\s+2\s+2\s+2\s+2\s", (await k.RunAsync("get", "ds", "-n", "ds")).Ok().Out);

            // An update replaces the pods node by node.
            (await k.RunAsync("set", "image", "ds/agent", "-n", "ds", "a=busybox:1.37")).Ok();
            (await k.RunAsync("rollout", "status", "ds/agent", "-n", "ds", "--timeout=60s")).Ok();
            var updated = (await fixture.Server.PodsAsync("ds", "app=agent")).Where(p => p["metadata"]!["deletionTimestamp"] is null).ToList();
            Assert.Equal(2, updated.Count);
            Assert.All(updated, p => Assert.Equal("busybox:1.37", p["spec"]!["containers"]![0]!["image"]!.GetValue<string>()));

            // History and undo through the ControllerRevisions, as kubectl reads and applies them.
            var history = (await k.RunAsync("rollout", "history", "ds/agent", "-n", "ds")).Ok().Out;
            Assert.Matches(@"(?m)^1\s+<none>\s*$", history);
            Assert.Matches(@"(?m)^2\s+<none>\s*$", history);
            Assert.Contains("Image:\tbusybox:1.36", (await k.RunAsync("rollout", "history", "ds/agent", "-n", "ds", "--revision=1")).Ok().Out, StringComparison.Ordinal);
            Assert.Contains("rolled back", (await k.RunAsync("rollout", "undo", "ds/agent", "-n", "ds")).Ok().Out, StringComparison.Ordinal);
            (await k.RunAsync("rollout", "status", "ds/agent", "-n", "ds", "--timeout=60s")).Ok();
            await WaitForAsync(async () => (await fixture.Server.PodsAsync("ds", "app=agent")).Where(p => p["metadata"]!["deletionTimestamp"] is null)
                .Select(p => p["spec"]!["containers"]![0]!["image"]!.GetValue<string>()).ToList() is ["busybox:1.36", "busybox:1.36"] ? new JsonObject() : null);
            // The old template's revision came back as the newest rather than being copied.
            history = (await k.RunAsync("rollout", "history", "ds/agent", "-n", "ds")).Ok().Out;
            Assert.DoesNotMatch(@"(?m)^1\s", history);
            Assert.Matches(@"(?m)^3\s+<none>\s*$", history);
            Assert.Contains("Image:\tbusybox:1.36", (await k.RunAsync("rollout", "history", "ds/agent", "-n", "ds", "--revision=3")).Ok().Out, StringComparison.Ordinal);
        }
        finally
        {
            await k.RunAsync("taint", "nodes", "hollow-2", "ds-test=keep-out:NoSchedule-");
        }
        // Without the taint, the third node gets its pod.
        await WaitForAsync(async () => (await fixture.Server.PodsAsync("ds", "app=agent")).Count(p => p["metadata"]!["deletionTimestamp"] is null && Pods.IsReady(p)) == 3 ? new JsonObject() : null);
    }

    [Fact]
    public async Task StatefulSetCreatesInOrderWithStableNamesClaimsAndPartitionedUpdates()
    {
        var k = K;
        (await k.RunAsync("create", "namespace", "sts")).Ok();
        // Creation order is observed through a watch on the pods: each ordinal appears only after the previous is ready.
        using var watch = new CancellationTokenSource();
        var created = new List<string>();
        var readyWhenCreated = new List<bool>();
        var watcher = Task.Run(async () =>
        {
            using var client = fixture.Server.AdminClient();
            using var response = await client.GetAsync("/api/v1/namespaces/sts/pods?watch=1", HttpCompletionOption.ResponseHeadersRead, watch.Token);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(watch.Token));
            var ready = new HashSet<string>();
            try
            {
                while (await reader.ReadLineAsync(watch.Token) is { } line)
                {
                    var e = JsonNode.Parse(line)!;
                    var pod = e["object"]!.AsObject();
                    var name = pod["metadata"]!["name"]!.GetValue<string>();
                    if (e["type"]!.GetValue<string>() == "ADDED")
                    {
                        lock (created)
                        {
                            created.Add(name);
                            // Was every lower ordinal ready when this one was created?
                            var ordinal = int.Parse(name[(name.LastIndexOf('-') + 1)..]);
                            readyWhenCreated.Add(Enumerable.Range(0, ordinal).All(i => ready.Contains($"db-{i}")));
                        }
                    }
                    else if (Pods.IsReady(pod))
                    {
                        ready.Add(name);
                    }
                }
            }
            catch (OperationCanceledException)
            {
            }
        });
        await Task.Delay(300);
        (await k.RunWithInputAsync("""
            apiVersion: apps/v1
            kind: StatefulSet
            metadata: {name: db}
            spec:
              serviceName: db
              replicas: 3
              selector: {matchLabels: {app: db}}
              updateStrategy: {type: RollingUpdate, rollingUpdate: {partition: 1}}
              template:
                metadata: {labels: {app: db}}
                spec:
                  containers: [{name: db, image: postgres:16, volumeMounts: [{name: data, mountPath: /var/lib/postgresql}]}]
              volumeClaimTemplates:
              - metadata: {name: data}
                spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
            """, "apply", "-n", "sts", "-f", "-")).Ok();
        Assert.Contains("roll out complete", (await k.RunAsync("rollout", "status", "sts/db", "-n", "sts", "--timeout=60s")).Ok().Out);
        await watch.CancelAsync();
        await watcher;
        lock (created)
        {
            Assert.Equal(["db-0", "db-1", "db-2"], created);
            Assert.All(readyWhenCreated, Assert.True);
        }
        var pods = await fixture.Server.PodsAsync("sts", "app=db");
        Assert.Equal(["db-0", "db-1", "db-2"], pods.Select(p => p["metadata"]!["name"]!.GetValue<string>()).Order());
        Assert.All(pods, p => Assert.Equal("db", p["spec"]!["subdomain"]!.GetValue<string>()));
        Assert.Equal("data-db-1", pods.Single(p => p["metadata"]!["name"]!.GetValue<string>() == "db-1")["spec"]!["volumes"]!.AsArray()
            .Single(v => v!["name"]!.GetValue<string>() == "data")!["persistentVolumeClaim"]!["claimName"]!.GetValue<string>());
        var claims = (await k.RunAsync("get", "pvc", "-n", "sts", "-o", "name")).Ok().Out;
        Assert.Contains("persistentvolumeclaim/data-db-0", claims);
        Assert.Contains("persistentvolumeclaim/data-db-2", claims);
        Assert.Contains("controllerrevision.apps/db-", (await k.RunAsync("get", "controllerrevisions", "-n", "sts", "-o", "name")).Ok().Out);

        // An update with partition 1 replaces db-2 and db-1, and leaves db-0 at the old revision.
        (await k.RunAsync("set", "image", "sts/db", "-n", "sts", "db=postgres:17")).Ok();
        await WaitForAsync(async () =>
        {
            var images = (await fixture.Server.PodsAsync("sts", "app=db")).Where(p => p["metadata"]!["deletionTimestamp"] is null && Pods.IsReady(p))
                .ToDictionary(p => p["metadata"]!["name"]!.GetValue<string>(), p => p["spec"]!["containers"]![0]!["image"]!.GetValue<string>());
            return images.GetValueOrDefault("db-0") == "postgres:16" && images.GetValueOrDefault("db-1") == "postgres:17" && images.GetValueOrDefault("db-2") == "postgres:17" ? new JsonObject() : null;
        });
        var status = JsonNode.Parse((await k.RunAsync("get", "sts", "db", "-n", "sts", "-o", "json")).Ok().Out)!["status"]!;
        Assert.Equal(2, status["updatedReplicas"]!.GetValue<int>());
        Assert.NotEqual(status["currentRevision"]!.GetValue<string>(), status["updateRevision"]!.GetValue<string>());

        // Undo goes back to the first template: the updated pods return to it.
        Assert.Matches(@"(?m)^2\s+<none>\s*$", (await k.RunAsync("rollout", "history", "sts/db", "-n", "sts")).Ok().Out);
        Assert.Contains("Image:\tpostgres:17", (await k.RunAsync("rollout", "history", "sts/db", "-n", "sts", "--revision=2")).Ok().Out, StringComparison.Ordinal);
        Assert.Contains("rolled back", (await k.RunAsync("rollout", "undo", "sts/db", "-n", "sts")).Ok().Out, StringComparison.Ordinal);
        await WaitForAsync(async () => (await fixture.Server.PodsAsync("sts", "app=db")).Where(p => p["metadata"]!["deletionTimestamp"] is null && Pods.IsReady(p))
            .Count(p => p["spec"]!["containers"]![0]!["image"]!.GetValue<string>() == "postgres:16") == 3 ? new JsonObject() : null);

        // Scaling down removes the highest ordinals; the claims stay.
        (await k.RunAsync("scale", "sts/db", "-n", "sts", "--replicas=1")).Ok();
        await WaitForAsync(async () => (await fixture.Server.PodsAsync("sts", "app=db")).Select(p => p["metadata"]!["name"]!.GetValue<string>()).SequenceEqual(["db-0"]) ? new JsonObject() : null);
        Assert.Contains("persistentvolumeclaim/data-db-2", (await k.RunAsync("get", "pvc", "-n", "sts", "-o", "name")).Ok().Out);
    }

    [Fact]
    public async Task HollowNodesRegisterWithLeasesAndStatus()
    {
        var k = K;
        var nodes = (await k.RunAsync("get", "nodes")).Ok().Out;
        foreach (var name in fixture.Agent.NodeNames)
        {
            Assert.Matches($@"(?m)^{name}\s+Ready\s", nodes);
        }
        var leases = (await k.RunAsync("get", "leases", "-n", "kube-node-lease", "-o", "name")).Ok().Out;
        Assert.Contains("lease.coordination.k8s.io/hollow-0", leases);
        var node = JsonNode.Parse((await k.RunAsync("get", "node", "hollow-1", "-o", "json")).Ok().Out)!;
        Assert.Equal("4", node["status"]!["allocatable"]!["cpu"]!.GetValue<string>());
        Assert.Equal("110", node["status"]!["capacity"]!["pods"]!.GetValue<string>());
    }

    [Fact]
    public async Task TopologySpreadConstraintsPlacePodsEvenly()
    {
        var k = K;
        (await k.RunAsync("create", "namespace", "spread")).Ok();
        (await k.RunWithInputAsync("""
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: even}
            spec:
              replicas: 6
              selector: {matchLabels: {app: even}}
              template:
                metadata: {labels: {app: even}}
                spec:
                  topologySpreadConstraints:
                  - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: even}}}
                  containers: [{name: c, image: nginx}]
            """, "apply", "-n", "spread", "-f", "-")).Ok();
        (await k.RunAsync("rollout", "status", "deploy/even", "-n", "spread", "--timeout=60s")).Ok();
        var perNode = (await fixture.Server.PodsAsync("spread", "app=even")).GroupBy(p => p["spec"]!["nodeName"]!.GetValue<string>()).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal([2, 2, 2], perNode.Values.Order());
    }

    [Fact]
    public async Task DrainEvictsOnlyWhatTheDisruptionBudgetAllows()
    {
        var k = K;
        (await k.RunWithInputAsync("""
            apiVersion: v1
            kind: Namespace
            metadata: {name: drain}
            ---
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: web, namespace: drain}
            spec:
              replicas: 2
              selector: {matchLabels: {app: drained}}
              template:
                metadata: {labels: {app: drained}}
                spec:
                  containers: [{name: c, image: nginx}]
            ---
            apiVersion: policy/v1
            kind: PodDisruptionBudget
            metadata: {name: web, namespace: drain}
            spec:
              minAvailable: 2
              selector: {matchLabels: {app: drained}}
            """, "apply", "-f", "-")).Ok();
        (await k.RunAsync("rollout", "status", "deploy/web", "-n", "drain", "--timeout=60s")).Ok();
        // The disruption controller counts the healthy pods: none may go.
        await WaitForAsync(async () => (await k.RunAsync("get", "pdb", "web", "-n", "drain")).Out is var row && System.Text.RegularExpressions.Regex.IsMatch(row, @"(?m)^web\s+2\s+N/A\s+0\s") ? new JsonObject() : null);
        var status = JsonNode.Parse((await k.RunAsync("get", "pdb", "web", "-n", "drain", "-o", "json")).Ok().Out)!["status"]!;
        Assert.Equal((2, 2, 2), (status["currentHealthy"]!.GetValue<int>(), status["desiredHealthy"]!.GetValue<int>(), status["expectedPods"]!.GetValue<int>()));
        Assert.Equal("InsufficientPods", status["conditions"]![0]!["reason"]!.GetValue<string>());

        var victim = (await fixture.Server.PodsAsync("drain", "app=drained"))[0];
        var node = victim["spec"]!["nodeName"]!.GetValue<string>();
        try
        {
            var blocked = await k.RunAsync("drain", node, "--pod-selector=app=drained", "--timeout=7s");
            Assert.NotEqual(0, blocked.ExitCode);
            Assert.Contains("Cannot evict pod as it would violate the pod's disruption budget.", blocked.Err, StringComparison.Ordinal);
            Assert.Equal(2, (await fixture.Server.PodsAsync("drain", "app=drained")).Count(p => p["metadata"]!["deletionTimestamp"] is null));

            // With one disruption allowed, the drain evicts the pod and its replacement lands on another node.
            (await k.RunAsync("patch", "pdb", "web", "-n", "drain", "--type=merge", "-p", """{"spec":{"minAvailable":1}}""")).Ok();
            await WaitForAsync(async () => (await k.RunAsync("get", "pdb", "web", "-n", "drain")).Out.Contains(" 1 ", StringComparison.Ordinal) ? new JsonObject() : null);
            // A server-side dry run of the drain (kubectl sends dryRun in the eviction's deleteOptions) evicts nothing
            // and spends nothing of the budget, with kubectl 1.32 and 1.27.
            foreach (var version in new[] { Kubectl.V132, Kubectl.V127 })
            {
                var dry = (await new Kubectl(version, fixture.Server.Kubeconfig).RunAsync("drain", node, "--pod-selector=app=drained", "--dry-run=server", "--timeout=20s")).Ok();
                Assert.Contains($"evicting pod drain/{victim["metadata"]!["name"]} (server dry run)", dry.Err + dry.Out, StringComparison.Ordinal);
            }
            Assert.Equal(2, (await fixture.Server.PodsAsync("drain", "app=drained")).Count(p => p["metadata"]!["deletionTimestamp"] is null));
            Assert.Equal("1", (await k.RunAsync("get", "pdb", "web", "-n", "drain", "-o", "jsonpath={.status.disruptionsAllowed}")).Ok().Out);
            Assert.DoesNotContain(victim["metadata"]!["name"]!.GetValue<string>(), (await k.RunAsync("get", "pdb", "web", "-n", "drain", "-o", "jsonpath={.status.disruptedPods}")).Ok().Out, StringComparison.Ordinal);

            var drained = (await k.RunAsync("drain", node, "--pod-selector=app=drained", "--timeout=60s")).Ok();
            Assert.Contains($"evicting pod drain/{victim["metadata"]!["name"]}", drained.Err + drained.Out, StringComparison.Ordinal);
            Assert.Contains($"node/{node} drained", drained.Out, StringComparison.Ordinal);
            (await k.RunAsync("rollout", "status", "deploy/web", "-n", "drain", "--timeout=60s")).Ok();
            await WaitForAsync(async () => (await fixture.Server.PodsAsync("drain", "app=drained")) is var pods && pods.Count == 2
                && pods.All(p => Pods.IsReady(p) && p["spec"]!["nodeName"]!.GetValue<string>() != node) ? new JsonObject() : null);
        }
        finally
        {
            await k.RunAsync("uncordon", node);
            await k.RunAsync("delete", "namespace", "drain", "--wait=false");
        }
    }

    [Fact]
    public async Task HigherPriorityPodsPreemptLowerOnes()
    {
        var k = K;
        (await k.RunAsync("create", "namespace", "prio")).Ok();
        try
        {
            (await k.RunWithInputAsync("""
                apiVersion: scheduling.k8s.io/v1
                kind: PriorityClass
                metadata: {name: urgent}
                value: 1000
                ---
                apiVersion: apps/v1
                kind: Deployment
                metadata: {name: filler}
                spec:
                  replicas: 3
                  selector: {matchLabels: {app: filler}}
                  template:
                    metadata: {labels: {app: filler}}
                    spec:
                      containers: [{name: c, image: nginx, resources: {requests: {cpu: "3"}}}]
                """, "apply", "-n", "prio", "-f", "-")).Ok();
            (await k.RunAsync("rollout", "status", "deploy/filler", "-n", "prio", "--timeout=60s")).Ok();
            Assert.Contains("is forbidden: no PriorityClass with name missing was found", (await k.RunAsync("run", "nope", "-n", "prio", "--image=nginx", "--overrides", """{"spec":{"priorityClassName":"missing"}}""")).Fails().Err);

            (await k.RunAsync("run", "vip", "-n", "prio", "--image=nginx", "--overrides", """{"spec":{"priorityClassName":"urgent","containers":[{"name":"vip","image":"nginx","resources":{"requests":{"cpu":"2"}}}]}}""")).Ok();
            Assert.Equal("1000", (await k.RunAsync("get", "pod", "vip", "-n", "prio", "-o", "jsonpath={.spec.priority}")).Ok().Out);
            Assert.Contains("condition met", (await k.RunAsync("wait", "pod/vip", "-n", "prio", "--for=condition=Ready", "--timeout=60s")).Ok().Out);
            var vipNode = (await k.RunAsync("get", "pod", "vip", "-n", "prio", "-o", "jsonpath={.spec.nodeName}")).Ok().Out;
            var events = (await k.RunAsync("get", "events", "-n", "prio", "--field-selector", "reason=Preempted", "-o", "jsonpath={.items[*].message}")).Ok().Out;
            Assert.Matches($"Preempted by pod [0-9a-f-]+ on node {vipNode}", events);
            // The preempted filler's replacement no longer fits and cannot preempt anything itself.
            await WaitForAsync(async () =>
            {
                var pending = (await fixture.Server.PodsAsync("prio", "app=filler")).Where(p => p["spec"]?["nodeName"] is null).ToList();
                var message = pending.SelectMany(p => p["status"]?["conditions"]?.AsArray() ?? []).FirstOrDefault(c => c?["type"]?.GetValue<string>() == "PodScheduled")?["message"]?.GetValue<string>();
                return message?.Contains("Insufficient cpu", StringComparison.Ordinal) == true && message.Contains("No preemption victims found for incoming pod", StringComparison.Ordinal) ? new JsonObject() : null;
            });
        }
        finally
        {
            await k.RunAsync("delete", "namespace", "prio", "--wait=false");
            await k.RunAsync("delete", "priorityclass", "urgent");
        }
    }

    [Fact]
    public async Task OneControllerManagerLeadsThroughItsLease()
    {
        var lease = JsonNode.Parse((await K.RunAsync("get", "lease", "tug-controller-manager", "-n", "kube-system", "-o", "json")).Ok().Out)!;
        var holder = lease["spec"]!["holderIdentity"]!.GetValue<string>();
        Assert.Equal(15, lease["spec"]!["leaseDurationSeconds"]!.GetValue<int>());
        // A second candidate cannot take a Lease that is being renewed.
        using var client = new Tugboat.Client.ApiClient(Tugboat.Client.ClientConfig.FromKubeconfig(fixture.Server.Kubeconfig), "test-candidate");
        var rival = new Tugboat.Client.LeaderElection(client, "kube-system", "tug-controller-manager", "rival");
        Assert.False(await rival.TryAcquireOrRenewAsync(CancellationToken.None));
        await Task.Delay(2500);
        var renewed = JsonNode.Parse((await K.RunAsync("get", "lease", "tug-controller-manager", "-n", "kube-system", "-o", "json")).Ok().Out)!;
        Assert.Equal(holder, renewed["spec"]!["holderIdentity"]!.GetValue<string>());
        Assert.NotEqual(lease["spec"]!["renewTime"]!.GetValue<string>(), renewed["spec"]!["renewTime"]!.GetValue<string>());
    }

    private static Task<JsonNode> WaitForAsync(Func<Task<JsonNode?>> probe) => Eventually.ForAsync(probe, TimeSpan.FromSeconds(30));
}
