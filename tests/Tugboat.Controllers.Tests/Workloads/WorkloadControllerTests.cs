using System.Globalization;
using System.Text.Json.Nodes;
using Tugboat.Controllers.Tests.Fakes;
using static Tugboat.Controllers.Tests.Fakes.Objects;

namespace Tugboat.Controllers.Tests.Workloads;

/// <summary>Deployment, StatefulSet, DaemonSet, Job and CronJob controllers against the fake API, other actors played by the test.</summary>
public sealed class WorkloadControllerTests
{
    private const string Template = """{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"nginx:1"}]}}""";

    private static void RunReady(Harness h, JsonObject pod, string node = "n1", int readyFor = 3600) =>
        h.Api.Modify($"/api/v1/namespaces/{pod["metadata"]!["namespace"]}/pods/{Name(pod)}", o =>
        {
            o["spec"]!["nodeName"] = node;
            o["status"] = O("""{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}""");
            o["status"]!["conditions"]![0]!["lastTransitionTime"] = DateTime.UtcNow.AddSeconds(-readyFor).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
        });

    [Fact]
    public async Task DeploymentRollsOutWithinMaxSurgeAndMaxUnavailable()
    {
        await using var h = new Harness();
        await h.StartAsync(q => new Deployment.DeploymentController(h.Client, h.Informers, q), c => c.Informers);
        var d = O("""{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"ns"},"spec":{"replicas":3,"selector":{"matchLabels":{"app":"web"}},"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":1,"maxUnavailable":0}}}}""");
        d["spec"]!["template"] = O(Template);
        h.Api.Seed("/apis/apps/v1/namespaces/ns/deployments", d);
        var first = await h.EventuallyAsync("first ReplicaSet at 3", () => h.Api.List("/apis/apps/v1/namespaces/ns/replicasets").SingleOrDefault(s => L(s["spec"]!["replicas"]) == 3));
        var hash = first["metadata"]!["labels"]!["pod-template-hash"]!.GetValue<string>();
        Assert.Equal($"web-{hash}", Name(first));
        Assert.Equal(hash, first["spec"]!["selector"]!["matchLabels"]!["pod-template-hash"]!.GetValue<string>());
        Assert.Equal("1", first["metadata"]!["annotations"]!["deployment.kubernetes.io/revision"]!.GetValue<string>());

        // Play the ReplicaSet controller and the nodes: every set's pods become available at once, one step at a time.
        void Available()
        {
            foreach (var s in h.Api.List("/apis/apps/v1/namespaces/ns/replicasets").Where(s => L(s["status"]?["availableReplicas"]) != L(s["spec"]!["replicas"])))
            {
                h.Api.Modify($"/apis/apps/v1/namespaces/ns/replicasets/{Name(s)}", o =>
                {
                    var n = L(o["spec"]!["replicas"]);
                    o["status"] = new JsonObject { ["replicas"] = n, ["readyReplicas"] = n, ["availableReplicas"] = n, ["observedGeneration"] = L(o["metadata"]!["generation"]) };
                });
            }
        }
        Available();
        await h.SettleAsync();
        h.Api.Modify("/apis/apps/v1/namespaces/ns/deployments/web", o => o["spec"]!["template"]!["spec"]!["containers"]![0]!["image"] = "nginx:2");
        for (var step = 0; step < 20; step++)
        {
            await h.SettleAsync();
            var sets = h.Api.List("/apis/apps/v1/namespaces/ns/replicasets");
            var total = sets.Sum(s => L(s["spec"]!["replicas"]));
            var available = sets.Sum(s => Math.Min(L(s["status"]?["availableReplicas"]), L(s["spec"]!["replicas"])));
            Assert.True(total <= 4, $"step {step}: {total} replicas wanted, more than 3 + maxSurge 1; writes:\n{string.Join("\n", h.Api.Actions)}");
            Assert.True(available >= 3, $"step {step}: {available} available, fewer than 3 - maxUnavailable 0; writes:\n{string.Join("\n", h.Api.Actions)}");
            var next = sets.SingleOrDefault(s => Name(s) != Name(first));
            if (next is not null && L(next["spec"]!["replicas"]) == 3 && L(next["status"]?["availableReplicas"]) == 3 && L(sets.Single(s => Name(s) == Name(first))["spec"]!["replicas"]) == 0)
            {
                Assert.Equal("2", next["metadata"]!["annotations"]!["deployment.kubernetes.io/revision"]!.GetValue<string>());
                Assert.Equal("nginx:2", next["spec"]!["template"]!["spec"]!["containers"]![0]!["image"]!.GetValue<string>());
                await h.EventuallyAsync("status updated", () => L(h.Api.Get("/apis/apps/v1/namespaces/ns/deployments/web")!["status"]?["updatedReplicas"]) == 3 ? "" : null);
                return;
            }
            Available();
        }
        Assert.Fail("the rollout did not finish in 20 steps:\n" + string.Join("\n", h.Api.Actions));
    }

    [Fact]
    public async Task StatefulSetCreatesPodsInOrderWithTheirClaims()
    {
        await using var h = new Harness();
        await h.StartAsync(q => new StatefulSet.StatefulSetController(h.Client, h.Informers, q), c => c.Informers);
        var set = O("""{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"db","namespace":"ns"},"spec":{"replicas":3,"serviceName":"db","selector":{"matchLabels":{"app":"web"}},"volumeClaimTemplates":[{"metadata":{"name":"data"},"spec":{"accessModes":["ReadWriteOnce"],"resources":{"requests":{"storage":"1Gi"}}}}]}}""");
        set["spec"]!["template"] = O(Template);
        h.Api.Seed("/apis/apps/v1/namespaces/ns/statefulsets", set);
        await h.EventuallyAsync("db-0", () => h.Api.Get("/api/v1/namespaces/ns/pods/db-0"));
        Assert.NotNull(h.Api.Get("/api/v1/namespaces/ns/persistentvolumeclaims/data-db-0"));
        await h.SettleAsync();
        // OrderedReady: nothing more until db-0 runs and is ready.
        Assert.Single(h.Pods("ns"));
        var pod = h.Api.Get("/api/v1/namespaces/ns/pods/db-0")!;
        Assert.Equal("db-0", pod["spec"]!["hostname"]!.GetValue<string>());
        Assert.Equal("db", pod["spec"]!["subdomain"]!.GetValue<string>());
        Assert.Contains(pod["spec"]!["volumes"]!.AsArray(), v => v?["persistentVolumeClaim"]?["claimName"]?.GetValue<string>() == "data-db-0");
        RunReady(h, pod);
        await h.EventuallyAsync("db-1", () => h.Api.Get("/api/v1/namespaces/ns/pods/db-1"));
        await h.SettleAsync();
        Assert.Null(h.Api.Get("/api/v1/namespaces/ns/pods/db-2"));
        RunReady(h, h.Api.Get("/api/v1/namespaces/ns/pods/db-1")!);
        await h.EventuallyAsync("db-2", () => h.Api.Get("/api/v1/namespaces/ns/pods/db-2"));
        // Scale-down removes the highest ordinal first and keeps the claims.
        RunReady(h, h.Api.Get("/api/v1/namespaces/ns/pods/db-2")!);
        h.Api.Modify("/apis/apps/v1/namespaces/ns/statefulsets/db", o => o["spec"]!["replicas"] = 2);
        await h.EventuallyAsync("db-2 gone", () => h.Api.Get("/api/v1/namespaces/ns/pods/db-2") is null ? "" : null);
        Assert.NotNull(h.Api.Get("/api/v1/namespaces/ns/pods/db-1"));
        Assert.NotNull(h.Api.Get("/api/v1/namespaces/ns/persistentvolumeclaims/data-db-2"));
    }

    [Fact]
    public async Task StatefulSetWaitsForMinReadySecondsAndDeletesClaimsAsItsRetentionPolicySays()
    {
        await using var h = new Harness();
        await h.StartAsync(q => new StatefulSet.StatefulSetController(h.Client, h.Informers, q), c => c.Informers);
        await h.StartAsync(q => new GarbageCollector.GarbageCollector(h.Client, h.Informers, q), c => c.Informers);
        var set = O("""{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"db","namespace":"ns"},"spec":{"replicas":2,"minReadySeconds":3,"serviceName":"db","selector":{"matchLabels":{"app":"web"}},"persistentVolumeClaimRetentionPolicy":{"whenDeleted":"Delete","whenScaled":"Delete"},"volumeClaimTemplates":[{"metadata":{"name":"data"},"spec":{"accessModes":["ReadWriteOnce"],"resources":{"requests":{"storage":"1Gi"}}}}]}}""");
        set["spec"]!["template"] = O(Template);
        var uid = h.Api.Seed("/apis/apps/v1/namespaces/ns/statefulsets", set)["metadata"]!["uid"]!.GetValue<string>();
        var db0 = await h.EventuallyAsync("db-0", () => h.Api.Get("/api/v1/namespaces/ns/pods/db-0"));
        var claim0 = h.Api.Get("/api/v1/namespaces/ns/persistentvolumeclaims/data-db-0")!;
        Assert.Contains(claim0["metadata"]!["ownerReferences"]!.AsArray(), r => r?["uid"]?.GetValue<string>() == uid && r["kind"]?.GetValue<string>() == "StatefulSet");

        // Ready just now: db-1 waits until db-0 has been ready for minReadySeconds (3 s; condition times have whole seconds).
        RunReady(h, db0, readyFor: 0);
        await h.EventuallyAsync("ready 1, available 0", () => h.Api.Get("/apis/apps/v1/namespaces/ns/statefulsets/db")?["status"] is JsonObject st
            && L(st["readyReplicas"]) == 1 && L(st["availableReplicas"]) == 0 ? st : null);
        Assert.Null(h.Api.Get("/api/v1/namespaces/ns/pods/db-1"));
        await h.EventuallyAsync("db-1 after minReadySeconds", () => h.Api.Get("/api/v1/namespaces/ns/pods/db-1"));
        await h.EventuallyAsync("available 1", () => L(h.Api.Get("/apis/apps/v1/namespaces/ns/statefulsets/db")?["status"]?["availableReplicas"]) == 1 ? "" : null);

        // whenScaled: Delete — the claim of the pod scaled away goes with it; the other stays.
        RunReady(h, h.Api.Get("/api/v1/namespaces/ns/pods/db-1")!);
        h.Api.Modify("/apis/apps/v1/namespaces/ns/statefulsets/db", o => o["spec"]!["replicas"] = 1);
        await h.EventuallyAsync("data-db-1 deleted", () => h.Api.Get("/api/v1/namespaces/ns/persistentvolumeclaims/data-db-1") is null ? "" : null);
        Assert.Null(h.Api.Get("/api/v1/namespaces/ns/pods/db-1"));
        Assert.NotNull(h.Api.Get("/api/v1/namespaces/ns/persistentvolumeclaims/data-db-0"));

        // whenDeleted: Delete — deleting the set takes the remaining claim too.
        await h.Client.DeleteAsync("/apis/apps/v1/namespaces/ns/statefulsets/db", new JsonObject { ["propagationPolicy"] = "Background" });
        await h.EventuallyAsync("data-db-0 deleted", () => h.Api.Get("/api/v1/namespaces/ns/persistentvolumeclaims/data-db-0") is null ? "" : null);
    }

    [Fact]
    public async Task StatefulSetClaimsAreRetainedByDefault()
    {
        await using var h = new Harness();
        await h.StartAsync(q => new StatefulSet.StatefulSetController(h.Client, h.Informers, q), c => c.Informers);
        await h.StartAsync(q => new GarbageCollector.GarbageCollector(h.Client, h.Informers, q), c => c.Informers);
        var set = O("""{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"db","namespace":"ns"},"spec":{"replicas":2,"serviceName":"db","selector":{"matchLabels":{"app":"web"}},"volumeClaimTemplates":[{"metadata":{"name":"data"},"spec":{"accessModes":["ReadWriteOnce"],"resources":{"requests":{"storage":"1Gi"}}}}]}}""");
        set["spec"]!["template"] = O(Template);
        h.Api.Seed("/apis/apps/v1/namespaces/ns/statefulsets", set);
        RunReady(h, await h.EventuallyAsync("db-0", () => h.Api.Get("/api/v1/namespaces/ns/pods/db-0")));
        RunReady(h, await h.EventuallyAsync("db-1", () => h.Api.Get("/api/v1/namespaces/ns/pods/db-1")));
        h.Api.Modify("/apis/apps/v1/namespaces/ns/statefulsets/db", o => o["spec"]!["replicas"] = 1);
        await h.EventuallyAsync("db-1 gone", () => h.Api.Get("/api/v1/namespaces/ns/pods/db-1") is null ? "" : null);
        await h.Client.DeleteAsync("/apis/apps/v1/namespaces/ns/statefulsets/db", new JsonObject { ["propagationPolicy"] = "Background" });
        await h.EventuallyAsync("db-0 gone", () => h.Api.Get("/api/v1/namespaces/ns/pods/db-0") is null ? "" : null);
        await h.SettleAsync();
        Assert.Equal(["data-db-0", "data-db-1"], h.Api.List("/api/v1/namespaces/ns/persistentvolumeclaims").Select(Name).Order(StringComparer.Ordinal));
        Assert.All(h.Api.List("/api/v1/namespaces/ns/persistentvolumeclaims"), c => Assert.Null(c["metadata"]!["ownerReferences"]));
    }

    [Fact]
    public async Task DaemonSetPutsOnePodOnEachEligibleNode()
    {
        await using var h = new Harness();
        h.Api.Seed("/api/v1/nodes", O("""{"apiVersion":"v1","kind":"Node","metadata":{"name":"n1"}}"""));
        h.Api.Seed("/api/v1/nodes", O("""{"apiVersion":"v1","kind":"Node","metadata":{"name":"n2"},"spec":{"taints":[{"key":"dedicated","value":"db","effect":"NoSchedule"}]}}"""));
        h.Api.Seed("/api/v1/nodes", O("""{"apiVersion":"v1","kind":"Node","metadata":{"name":"n3"}}"""));
        await h.StartAsync(q => new DaemonSet.DaemonSetController(h.Client, h.Informers, q), c => c.Informers);
        var ds = O("""{"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"agent","namespace":"ns"},"spec":{"selector":{"matchLabels":{"app":"web"}}}}""");
        ds["spec"]!["template"] = O(Template);
        h.Api.Seed("/apis/apps/v1/namespaces/ns/daemonsets", ds);
        await h.EventuallyAsync("2 daemon pods", () => h.Pods("ns").Count == 2 ? "" : null);
        await h.SettleAsync();
        string Pinned(JsonObject p) => p["spec"]!["affinity"]!["nodeAffinity"]!["requiredDuringSchedulingIgnoredDuringExecution"]!["nodeSelectorTerms"]![0]!["matchFields"]![0]!["values"]![0]!.GetValue<string>();
        Assert.Equal(["n1", "n3"], h.Pods("ns").Select(Pinned).Order(StringComparer.Ordinal));
        // A new node gets its pod; a pod deleted is replaced.
        h.Api.Seed("/api/v1/nodes", O("""{"apiVersion":"v1","kind":"Node","metadata":{"name":"n4"}}"""));
        await h.EventuallyAsync("pod on n4", () => h.Pods("ns").Any(p => Pinned(p) == "n4") ? "" : null);
        var onN1 = h.Pods("ns").Single(p => Pinned(p) == "n1");
        await h.Client.DeleteAsync($"/api/v1/namespaces/ns/pods/{Name(onN1)}");
        await h.EventuallyAsync("n1 replaced", () => h.Pods("ns").Count(p => Pinned(p) == "n1") == 1 && h.Pods("ns").Count == 3 ? "" : null);
    }

    [Fact]
    public async Task DaemonSetSurgesOneNodeAtATimeAndWaitsForMinReadySeconds()
    {
        await using var h = new Harness();
        foreach (var n in new[] { "n1", "n2", "n3" })
        {
            var node = O("""{"apiVersion":"v1","kind":"Node","metadata":{}}""");
            node["metadata"]!["name"] = n;
            h.Api.Seed("/api/v1/nodes", node);
        }
        await h.StartAsync(q => new DaemonSet.DaemonSetController(h.Client, h.Informers, q), c => c.Informers);
        var ds = O("""{"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"agent","namespace":"ns"},"spec":{"minReadySeconds":3,"selector":{"matchLabels":{"app":"web"}},"updateStrategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":1,"maxUnavailable":0}}}}""");
        ds["spec"]!["template"] = O(Template);
        h.Api.Seed("/apis/apps/v1/namespaces/ns/daemonsets", ds);
        string Node(JsonObject p) => p["spec"]!["affinity"]!["nodeAffinity"]!["requiredDuringSchedulingIgnoredDuringExecution"]!["nodeSelectorTerms"]![0]!["matchFields"]![0]!["values"]![0]!.GetValue<string>();
        foreach (var pod in await h.EventuallyAsync("3 pods", () => h.Pods("ns") is { Count: 3 } p ? p : null))
        {
            RunReady(h, pod, Node(pod));
        }
        await h.EventuallyAsync("3 available", () => L(h.Api.Get("/apis/apps/v1/namespaces/ns/daemonsets/agent")?["status"]?["numberAvailable"]) == 3 ? "" : null);
        var oldHash = h.Pods("ns")[0]["metadata"]!["labels"]!["controller-revision-hash"]!.GetValue<string>();

        h.Api.Modify("/apis/apps/v1/namespaces/ns/daemonsets/agent", o => o["spec"]!["template"]!["spec"]!["containers"]![0]!["image"] = "nginx:2");
        for (var step = 0; step < 30; step++)
        {
            await h.SettleAsync();
            var pods = h.Pods("ns");
            var byNode = pods.GroupBy(Node).ToDictionary(g => g.Key, g => g.ToList());
            Assert.True(byNode.Count(kv => kv.Value.Count > 1) <= 1, $"step {step}: more than maxSurge 1 node with two pods");
            Assert.True(byNode.Count == 3 && byNode.Values.All(list => list.Count <= 2), $"step {step}: a node without its pod or with more than two");
            if (pods.Count == 3 && pods.All(p => p["metadata"]!["labels"]!["controller-revision-hash"]!.GetValue<string>() != oldHash))
            {
                return;
            }
            // The new pod becomes Ready now (a condition time has whole seconds: up to one already passed); it is
            // available only after minReadySeconds (3 s), so the old one stays till then.
            foreach (var fresh in pods.Where(p => p["status"]?["phase"] is null))
            {
                RunReady(h, fresh, Node(fresh), readyFor: 0);
                await h.SettleAsync();
                Assert.Equal(2, h.Pods("ns").Count(p => Node(p) == Node(fresh)));
            }
        }
        Assert.Fail("the surge did not finish:\n" + string.Join("\n", h.Api.Actions));
    }

    [Fact]
    public async Task JobRunsParallelismPodsUntilCompletionsSucceed()
    {
        await using var h = new Harness();
        await h.StartAsync(q => new Job.JobController(h.Client, h.Informers, q), c => c.Informers);
        var job = O("""{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"work","namespace":"ns"},"spec":{"completions":3,"parallelism":2,"backoffLimit":6,"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"busybox"}]}}}}""");
        h.Api.Seed("/apis/batch/v1/namespaces/ns/jobs", job);
        for (var succeeded = 0; succeeded < 3; succeeded++)
        {
            var running = await h.EventuallyAsync($"{Math.Min(2, 3 - succeeded)} active pods", () =>
            {
                var active = h.Pods("ns").Where(p => p["status"]?["phase"] is null).ToList();
                return active.Count == Math.Min(2, 3 - succeeded) ? active : null;
            });
            await h.SettleAsync();
            Assert.Equal(Math.Min(2, 3 - succeeded), h.Pods("ns").Count(p => p["status"]?["phase"] is null));
            h.Api.Modify($"/api/v1/namespaces/ns/pods/{Name(running[0])}", o => o["status"] = O("""{"phase":"Succeeded"}"""));
        }
        var done = await h.EventuallyAsync("Complete", () => h.Api.Get("/apis/batch/v1/namespaces/ns/jobs/work") is { } j
            && j["status"]?["conditions"]?.AsArray().Any(c => c?["type"]?.GetValue<string>() == "Complete" && c["status"]?.GetValue<string>() == "True") == true ? j : null);
        Assert.Equal(3, L(done["status"]!["succeeded"]));
        Assert.Equal(3, h.Pods("ns").Count);
    }

    [Fact]
    public async Task JobFailsOnceItsBackoffLimitIsExceeded()
    {
        await using var h = new Harness();
        await h.StartAsync(q => new Job.JobController(h.Client, h.Informers, q), c => c.Informers);
        h.Api.Seed("/apis/batch/v1/namespaces/ns/jobs", O("""{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"bad","namespace":"ns"},"spec":{"completions":1,"parallelism":1,"backoffLimit":1,"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"busybox"}]}}}}"""));
        for (var failures = 0; failures < 2; failures++)
        {
            var pod = await h.EventuallyAsync("a pod to fail", () => h.Pods("ns").FirstOrDefault(p => p["status"]?["phase"] is null));
            h.Api.Modify($"/api/v1/namespaces/ns/pods/{Name(pod)}", o => o["status"] = O("""{"phase":"Failed"}"""));
        }
        var failed = await h.EventuallyAsync("Failed", () => h.Api.Get("/apis/batch/v1/namespaces/ns/jobs/bad")?["status"]?["conditions"]?.AsArray()
            .OfType<JsonObject>().FirstOrDefault(c => c["type"]?.GetValue<string>() == "Failed" && c["status"]?.GetValue<string>() == "True"));
        Assert.Equal("BackoffLimitExceeded", failed["reason"]!.GetValue<string>());
        await h.SettleAsync();
        Assert.Equal(2, h.Api.Actions.Count(a => a.StartsWith("create pods", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task CronJobStartsTheLatestDueJobAndForbidsOverlap()
    {
        await using var h = new Harness();
        await h.StartAsync(q => new CronJob.CronJobController(h.Client, h.Informers, q), c => c.Informers);
        var created = DateTime.UtcNow.AddMinutes(-3).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
        var cron = O("""{"apiVersion":"batch/v1","kind":"CronJob","metadata":{"name":"tick","namespace":"ns"},"spec":{"schedule":"*/1 * * * *","concurrencyPolicy":"Forbid","jobTemplate":{"spec":{"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"busybox"}]}}}}}}""");
        cron["metadata"]!["creationTimestamp"] = created;
        h.Api.Seed("/apis/batch/v1/namespaces/ns/cronjobs", cron);
        var job = await h.EventuallyAsync("a job", () => h.Api.List("/apis/batch/v1/namespaces/ns/jobs").SingleOrDefault());
        // Several missed minutes start one job, the latest; its name is the scheduled minute since the epoch.
        var minute = new DateTimeOffset(DateTime.UtcNow.Year, DateTime.UtcNow.Month, DateTime.UtcNow.Day, DateTime.UtcNow.Hour, DateTime.UtcNow.Minute, 0, TimeSpan.Zero).ToUnixTimeSeconds() / 60;
        Assert.Contains(Name(job), new[] { $"tick-{minute}", $"tick-{minute - 1}" });
        await h.EventuallyAsync("active and lastScheduleTime", () => h.Api.Get("/apis/batch/v1/namespaces/ns/cronjobs/tick")?["status"] is JsonObject s
            && s["lastScheduleTime"] is not null && s["active"]?.AsArray().Count == 1 ? s : null);
        await h.SettleAsync();
        Assert.Single(h.Api.List("/apis/batch/v1/namespaces/ns/jobs"));
    }
}
