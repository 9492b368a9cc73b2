using System.Globalization;
using System.Text.Json.Nodes;
using Tugboat.Controllers.Tests.Fakes;
using static Tugboat.Controllers.Tests.Fakes.Objects;

namespace Tugboat.Controllers.Tests.Cluster;

/// <summary>The garbage collector, endpoints, pod GC, TTL-after-finished, namespace and service account controllers against the fake API.</summary>
public sealed class ClusterControllerTests
{
    private static string Ago(int seconds) => DateTime.UtcNow.AddSeconds(-seconds).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private static JsonObject Pod(string name, JsonObject? owner = null, bool block = false)
    {
        var pod = O("""{"apiVersion":"v1","kind":"Pod","metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"x"}]}}""");
        pod["metadata"]!["name"] = name;
        if (owner is not null)
        {
            pod["metadata"]!["ownerReferences"] = new JsonArray(new JsonObject
            {
                ["apiVersion"] = "apps/v1",
                ["kind"] = "ReplicaSet",
                ["name"] = owner["metadata"]!["name"]!.DeepClone(),
                ["uid"] = owner["metadata"]!["uid"]!.DeepClone(),
                ["controller"] = true,
                ["blockOwnerDeletion"] = block,
            });
        }
        return pod;
    }

    private static async Task<Harness> WithCollectorAsync()
    {
        var h = new Harness();
        await h.StartAsync(q => new GarbageCollector.GarbageCollector(h.Client, h.Informers, q), c => c.Informers);
        return h;
    }

    [Fact]
    public async Task CollectorDeletesDependentsOfVanishedOwnersOnly()
    {
        await using var h = await WithCollectorAsync();
        var owner = h.Api.Seed("/apis/apps/v1/namespaces/ns/replicasets", O("""{"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"rs"},"spec":{"replicas":1}}"""));
        var ghost = O("""{"metadata":{"name":"gone","uid":"00000000-0000-0000-0000-00000000dead"}}""");
        h.Api.Seed("/api/v1/namespaces/ns/pods", Pod("kept", owner));
        h.Api.Seed("/api/v1/namespaces/ns/pods", Pod("orphaned", ghost));
        h.Api.Seed("/api/v1/namespaces/ns/pods", Pod("unowned"));
        await h.EventuallyAsync("orphaned pod deleted", () => h.Api.Get("/api/v1/namespaces/ns/pods/orphaned") is null ? "" : null);
        // Deleting the owner (background) takes its dependent with it.
        await h.Client.DeleteAsync("/apis/apps/v1/namespaces/ns/replicasets/rs");
        await h.EventuallyAsync("dependent deleted", () => h.Api.Get("/api/v1/namespaces/ns/pods/kept") is null ? "" : null);
        await h.SettleAsync();
        Assert.NotNull(h.Api.Get("/api/v1/namespaces/ns/pods/unowned"));
    }

    [Fact]
    public async Task CollectorDeletesForegroundDependentsBeforeTheOwnerAndReleasesOrphans()
    {
        await using var h = await WithCollectorAsync();
        var owner = h.Api.Seed("/apis/apps/v1/namespaces/ns/replicasets", O("""{"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"fg"},"spec":{"replicas":1}}"""));
        h.Api.Seed("/api/v1/namespaces/ns/pods", Pod("blocking", owner, block: true));
        // The collector acts on what its caches have seen, as upstream's graph: let it see the dependent first.
        await h.EventuallyAsync("dependent seen", () => h.Informers.For("/api/v1/pods").Get("ns/blocking"));
        await h.Client.DeleteAsync("/apis/apps/v1/namespaces/ns/replicasets/fg", new JsonObject { ["propagationPolicy"] = "Foreground" });
        await h.EventuallyAsync("owner gone", () => h.Api.Get("/apis/apps/v1/namespaces/ns/replicasets/fg") is null ? "" : null);
        var actions = h.Api.Actions.ToList();
        Assert.True(actions.IndexOf("delete pods ns/blocking") < actions.FindIndex(a => a.StartsWith("update replicasets ns/fg", StringComparison.Ordinal) || a.StartsWith("patch replicasets ns/fg", StringComparison.Ordinal)),
            "the dependent goes before the owner's finalizer:\n" + string.Join("\n", actions));

        var parent = h.Api.Seed("/apis/apps/v1/namespaces/ns/replicasets", O("""{"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"or"},"spec":{"replicas":1}}"""));
        h.Api.Seed("/api/v1/namespaces/ns/pods", Pod("child", parent));
        await h.EventuallyAsync("dependent seen", () => h.Informers.For("/api/v1/pods").Get("ns/child"));
        await h.Client.DeleteAsync("/apis/apps/v1/namespaces/ns/replicasets/or", new JsonObject { ["propagationPolicy"] = "Orphan" });
        await h.EventuallyAsync("owner gone", () => h.Api.Get("/apis/apps/v1/namespaces/ns/replicasets/or") is null ? "" : null);
        var child = h.Api.Get("/api/v1/namespaces/ns/pods/child");
        Assert.NotNull(child);
        Assert.True(child["metadata"]?["ownerReferences"] is null || child["metadata"]!["ownerReferences"]!.AsArray().Count == 0);
    }

    [Fact]
    public async Task EndpointsFollowTheReadyPodsAServiceSelects()
    {
        await using var h = new Harness();
        await h.StartAsync(q => new Endpoints.EndpointsController(h.Client, h.Informers, q), c => c.Informers);
        h.Api.Seed("/api/v1/namespaces/ns/services", O("""{"apiVersion":"v1","kind":"Service","metadata":{"name":"web"},"spec":{"selector":{"app":"web"},"ports":[{"name":"http","port":80,"targetPort":8080,"protocol":"TCP"}]}}"""));
        void Run(string name, string ip, bool ready)
        {
            var pod = Pod(name);
            pod["spec"]!["nodeName"] = "n1";
            pod["status"] = new JsonObject { ["phase"] = "Running", ["podIP"] = ip, ["conditions"] = new JsonArray(new JsonObject { ["type"] = "Ready", ["status"] = ready ? "True" : "False" }) };
            h.Api.Seed("/api/v1/namespaces/ns/pods", pod);
        }
        Run("a", "10.42.0.5", ready: true);
        Run("b", "10.42.0.6", ready: false);
        var endpoints = await h.EventuallyAsync("endpoints", () => h.Api.Get("/api/v1/namespaces/ns/endpoints/web") is { } e && e["subsets"] is not null ? e : null);
        var subset = endpoints["subsets"]![0]!;
        Assert.Equal("10.42.0.5", subset["addresses"]![0]!["ip"]!.GetValue<string>());
        Assert.Equal("10.42.0.6", subset["notReadyAddresses"]![0]!["ip"]!.GetValue<string>());
        Assert.Equal(8080, subset["ports"]![0]!["port"]!.GetValue<int>());
        var slice = await h.EventuallyAsync("slice", () => h.Api.List("/apis/discovery.k8s.io/v1/namespaces/ns/endpointslices").SingleOrDefault());
        Assert.Equal("web", slice["metadata"]!["labels"]!["kubernetes.io/service-name"]!.GetValue<string>());
        Assert.Equal(2, slice["endpoints"]!.AsArray().Count);
        // The ready pod goes: its address leaves the endpoints.
        await h.Client.DeleteAsync("/api/v1/namespaces/ns/pods/a");
        await h.EventuallyAsync("a removed", () => h.Api.Get("/api/v1/namespaces/ns/endpoints/web")?["subsets"]?[0]?["addresses"] is null ? "" : null);
    }

    [Fact]
    public async Task PodGCRemovesUnboundTerminatingPodsAndFinishedOnesBeyondTheThreshold()
    {
        await using var h = new Harness();
        await h.StartAsync(q => new PodGC.PodGCController(h.Client, h.Informers, q, terminatedThreshold: 2), c => c.Informers);
        var unbound = Pod("unbound");
        unbound["metadata"]!["deletionTimestamp"] = Ago(0);
        unbound["metadata"]!["finalizers"] = new JsonArray();
        h.Api.Seed("/api/v1/namespaces/ns/pods", unbound);
        for (var i = 0; i < 4; i++)
        {
            var done = Pod($"done-{i}");
            done["metadata"]!["creationTimestamp"] = Ago(100 - i);
            done["spec"]!["nodeName"] = "n1";
            done["status"] = O("""{"phase":"Succeeded"}""");
            h.Api.Seed("/api/v1/namespaces/ns/pods", done);
        }
        await h.EventuallyAsync("unbound removed, 2 finished kept", () => h.Pods("ns").Count == 2 ? "" : null);
        await h.SettleAsync();
        Assert.Equal(["done-2", "done-3"], h.Pods("ns").Select(Name).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task FinishedJobsGoOnceTheirTtlRunsOut()
    {
        await using var h = new Harness();
        await h.StartAsync(q => new TtlAfterFinished.TtlAfterFinishedController(h.Client, h.Informers, q), c => c.Informers);
        JsonObject Job(string name, int ttl, string? finished)
        {
            var job = O("""{"apiVersion":"batch/v1","kind":"Job","metadata":{},"spec":{}}""");
            job["metadata"]!["name"] = name;
            job["spec"]!["ttlSecondsAfterFinished"] = ttl;
            if (finished is not null)
            {
                job["status"] = new JsonObject { ["completionTime"] = finished, ["conditions"] = new JsonArray(new JsonObject { ["type"] = "Complete", ["status"] = "True", ["lastTransitionTime"] = finished }) };
            }
            return job;
        }
        h.Api.Seed("/apis/batch/v1/namespaces/ns/jobs", Job("expired", 5, Ago(10)));
        h.Api.Seed("/apis/batch/v1/namespaces/ns/jobs", Job("soon", 2, Ago(0)));
        h.Api.Seed("/apis/batch/v1/namespaces/ns/jobs", Job("running", 0, null));
        await h.EventuallyAsync("expired deleted", () => h.Api.Get("/apis/batch/v1/namespaces/ns/jobs/expired") is null ? "" : null);
        Assert.NotNull(h.Api.Get("/apis/batch/v1/namespaces/ns/jobs/soon"));
        await h.EventuallyAsync("soon deleted after its ttl", () => h.Api.Get("/apis/batch/v1/namespaces/ns/jobs/soon") is null ? "" : null);
        Assert.NotNull(h.Api.Get("/apis/batch/v1/namespaces/ns/jobs/running"));
    }

    private static void ServeDiscovery(FakeApi api)
    {
        api.Discovery["/apis"] = O("""{"kind":"APIGroupList","groups":[{"name":"apps","versions":[{"groupVersion":"apps/v1","version":"v1"}],"preferredVersion":{"groupVersion":"apps/v1","version":"v1"}}]}""");
        api.Discovery["/api/v1"] = O("""
            {"kind":"APIResourceList","groupVersion":"v1","resources":[
              {"name":"configmaps","namespaced":true,"kind":"ConfigMap","verbs":["create","delete","deletecollection","get","list","patch","update","watch"]},
              {"name":"pods","namespaced":true,"kind":"Pod","verbs":["create","delete","get","list","patch","update","watch"]},
              {"name":"pods/status","namespaced":true,"kind":"Pod","verbs":["get","patch","update"]},
              {"name":"nodes","namespaced":false,"kind":"Node","verbs":["create","delete","get","list"]},
              {"name":"bindings","namespaced":true,"kind":"Binding","verbs":["create"]}]}
            """);
        api.Discovery["/apis/apps/v1"] = O("""{"kind":"APIResourceList","groupVersion":"apps/v1","resources":[{"name":"deployments","namespaced":true,"kind":"Deployment","verbs":["delete","deletecollection","list"]}]}""");
    }

    [Fact]
    public async Task NamespaceContentIsDeletedThenTheNamespaceIsFinalized()
    {
        await using var h = new Harness();
        ServeDiscovery(h.Api);
        await h.StartAsync(q => new NamespaceLifecycle.NamespaceController(h.Client, h.Informers, q), c => c.Informers);
        h.Api.Seed("/api/v1/namespaces/gone/configmaps", O("""{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}"""));
        h.Api.Seed("/api/v1/namespaces/gone/configmaps", O("""{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"held","finalizers":["example.com/hold"]}}"""));
        h.Api.Seed("/api/v1/namespaces/gone/pods", Pod("p"));
        h.Api.Seed("/apis/apps/v1/namespaces/gone/deployments", O("""{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{}}"""));
        h.Api.Seed("/api/v1/namespaces/other/configmaps", O("""{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"stays"}}"""));
        var ns = O("""{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"gone"},"spec":{"finalizers":["kubernetes"]},"status":{"phase":"Terminating"}}""");
        ns["metadata"]!["deletionTimestamp"] = Ago(0);
        h.Api.Seed("/api/v1/namespaces", ns);

        var conditions = await h.EventuallyAsync("conditions", () => h.Api.Get("/api/v1/namespaces/gone")?["status"]?["conditions"]?.AsArray() is { Count: 5 } c ? c : null);
        string Message(string type) => conditions.Single(c => c!["type"]!.GetValue<string>() == type)!["message"]!.GetValue<string>();
        Assert.Equal("Some resources are remaining: configmaps. has 1 resource instances", Message("NamespaceContentRemaining"));
        Assert.Equal("Some finalizers are remaining: example.com/hold in 1 resource instances", Message("NamespaceFinalizersRemaining"));
        Assert.Equal("All resources successfully discovered", Message("NamespaceDeletionDiscoveryFailure"));
        Assert.Equal(["held"], h.Api.List("/api/v1/namespaces/gone/configmaps").Select(Name));
        Assert.Empty(h.Api.List("/api/v1/namespaces/gone/pods"));
        Assert.Empty(h.Api.List("/apis/apps/v1/namespaces/gone/deployments"));
        Assert.NotNull(h.Api.Get("/api/v1/namespaces/other/configmaps/stays"));
        // deletecollection where discovery offers it, one delete per object otherwise.
        Assert.Contains("deletecollection configmaps gone", h.Api.Actions);
        Assert.Contains("deletecollection deployments gone", h.Api.Actions);
        Assert.DoesNotContain("deletecollection pods gone", h.Api.Actions);
        Assert.Contains("delete pods gone/p", h.Api.Actions);
        Assert.Equal("kubernetes", h.Api.Get("/api/v1/namespaces/gone")!["spec"]!["finalizers"]![0]!.GetValue<string>());

        h.Api.Modify("/api/v1/namespaces/gone/configmaps/held", o => o["metadata"]!["finalizers"] = new JsonArray());
        // The controller looks again after its estimate (15 s for finalizers: half, plus one second).
        await h.EventuallyAsync("namespace finalized", () => h.Api.Get("/api/v1/namespaces/gone") is null ? "" : null, TimeSpan.FromSeconds(20));
        Assert.Contains("update finalize namespaces gone", h.Api.Actions);
    }

    [Fact]
    public async Task ActiveNamespacesKeepADefaultServiceAccount()
    {
        await using var h = new Harness();
        h.Api.Seed("/api/v1/namespaces", O("""{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"old"},"status":{"phase":"Active"}}"""));
        await h.StartAsync(q => new ServiceAccount.ServiceAccountController(h.Client, h.Informers, q), c => c.Informers);
        await h.EventuallyAsync("default in old", () => h.Api.Get("/api/v1/namespaces/old/serviceaccounts/default"));
        h.Api.Seed("/api/v1/namespaces", O("""{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"new"},"status":{"phase":"Active"}}"""));
        await h.EventuallyAsync("default in new", () => h.Api.Get("/api/v1/namespaces/new/serviceaccounts/default"));
        await h.Client.DeleteAsync("/api/v1/namespaces/new/serviceaccounts/default");
        await h.EventuallyAsync("default again", () => h.Api.Get("/api/v1/namespaces/new/serviceaccounts/default"));
        var terminating = O("""{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"ending"},"status":{"phase":"Terminating"}}""");
        h.Api.Seed("/api/v1/namespaces", terminating);
        await h.SettleAsync();
        Assert.Null(h.Api.Get("/api/v1/namespaces/ending/serviceaccounts/default"));
        Assert.Equal(3, h.Api.Actions.Count(a => a.StartsWith("create serviceaccounts", StringComparison.Ordinal)));
    }
}
