using System.Text.Json.Nodes;
using Tugboat.Controllers.ReplicaSet;
using Tugboat.Controllers.Tests.Fakes;
using Microsoft.Extensions.Logging.Abstractions;
using static Tugboat.Controllers.Tests.Fakes.Objects;

namespace Tugboat.Controllers.Tests.Workloads;

public sealed class ReplicaSetControllerTests
{
    private static async Task<Harness> StartAsync()
    {
        var h = new Harness();
        await h.StartAsync(q => new ReplicaSetController(h.Client, h.Informers, q, NullLogger.Instance), c => c.Informers);
        return h;
    }

    private static JsonObject Set(int replicas)
    {
        var set = O("""
            {"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"web","namespace":"ns"},
             "spec":{"selector":{"matchLabels":{"app":"web"}},
                     "template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"nginx"}]}}}}
            """);
        set["spec"]!["replicas"] = replicas;
        return set;
    }

    private static bool OwnedBy(JsonObject pod, string uid) =>
        pod["metadata"]?["ownerReferences"]?.AsArray().Any(r => r?["uid"]?.GetValue<string>() == uid && r["controller"]?.GetValue<bool>() == true) == true;

    [Fact]
    public async Task CreatesExactlyTheMissingPodsAndReportsThem()
    {
        await using var h = await StartAsync();
        var set = h.Api.Seed("/apis/apps/v1/namespaces/ns/replicasets", Set(3));
        var uid = set["metadata"]!["uid"]!.GetValue<string>();
        await h.EventuallyAsync("3 pods", () => h.Pods("ns").Count == 3 ? "" : null);
        await h.SettleAsync();
        // Expectations: however many events arrive while the creations are in flight, never a fourth pod.
        Assert.Equal(3, h.Api.Actions.Count(a => a.StartsWith("create pods ns/web-", StringComparison.Ordinal)));
        Assert.All(h.Pods("ns"), p =>
        {
            Assert.True(OwnedBy(p, uid));
            Assert.Equal("web", p["metadata"]!["labels"]!["app"]!.GetValue<string>());
            Assert.Equal("nginx", p["spec"]!["containers"]![0]!["image"]!.GetValue<string>());
        });
        await h.EventuallyAsync("status.replicas 3", () => h.Api.Get("/apis/apps/v1/namespaces/ns/replicasets/web")?["status"]?["replicas"]?.GetValue<long>() == 3 ? "" : null);
    }

    [Fact]
    public async Task ReplacesDeletedPodsAndScalesDownUnscheduledFirst()
    {
        await using var h = await StartAsync();
        h.Api.Seed("/apis/apps/v1/namespaces/ns/replicasets", Set(3));
        await h.EventuallyAsync("3 pods", () => h.Pods("ns").Count == 3 ? "" : null);
        var pods = h.Pods("ns");
        // Two run on a node, one is still unscheduled.
        foreach (var p in pods.Take(2))
        {
            h.Api.Modify($"/api/v1/namespaces/ns/pods/{p["metadata"]!["name"]}", o =>
            {
                o["spec"]!["nodeName"] = "n1";
                o["status"] = O("""{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}""");
            });
        }
        // The controller chooses from its cache, as upstream's does: scale down once the cache has seen the bindings
        // (the set's and the pods' watches are separate streams, so the scale-down could otherwise arrive first).
        var cached = h.Informers.For("/api/v1/pods");
        await h.EventuallyAsync("bindings cached", () => cached.List().Count(p => p["spec"]?["nodeName"] is not null) == 2 ? "" : null);
        h.Api.Modify("/apis/apps/v1/namespaces/ns/replicasets/web", o => o["spec"]!["replicas"] = 2);
        await h.EventuallyAsync("2 pods", () => h.Pods("ns").Count == 2 ? "" : null);
        await h.SettleAsync();
        Assert.All(h.Pods("ns"), p => Assert.Equal("n1", p["spec"]?["nodeName"]?.GetValue<string>()));
        var victim = h.Pods("ns")[0]["metadata"]!["name"]!.GetValue<string>();
        await h.Client.DeleteAsync($"/api/v1/namespaces/ns/pods/{victim}");
        await h.EventuallyAsync("a replacement", () => h.Pods("ns").Count == 2 && h.Pods("ns").All(p => p["metadata"]!["name"]!.GetValue<string>() != victim) ? "" : null);
    }

    [Fact]
    public async Task AdoptsMatchingOrphansAndReleasesPodsThatStopMatching()
    {
        await using var h = await StartAsync();
        h.Api.Seed("/api/v1/namespaces/ns/pods", O("""{"apiVersion":"v1","kind":"Pod","metadata":{"name":"orphan","labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"x"}]}}"""));
        var set = h.Api.Seed("/apis/apps/v1/namespaces/ns/replicasets", Set(2));
        var uid = set["metadata"]!["uid"]!.GetValue<string>();
        await h.EventuallyAsync("orphan adopted", () => h.Api.Get("/api/v1/namespaces/ns/pods/orphan") is { } p && OwnedBy(p, uid) ? "" : null);
        await h.EventuallyAsync("2 pods", () => h.Pods("ns").Count == 2 ? "" : null);
        await h.SettleAsync();
        Assert.Equal(1, h.Api.Actions.Count(a => a.StartsWith("create pods", StringComparison.Ordinal)));
        // Relabelled out of the selector: released (owner reference removed) and replaced.
        h.Api.Modify("/api/v1/namespaces/ns/pods/orphan", o => o["metadata"]!["labels"]!["app"] = "other");
        await h.EventuallyAsync("orphan released", () => h.Api.Get("/api/v1/namespaces/ns/pods/orphan") is { } p && !OwnedBy(p, uid) ? "" : null);
        await h.EventuallyAsync("3 pods, 2 owned", () => h.Pods("ns").Count(p => OwnedBy(p, uid)) == 2 ? "" : null);
    }
}
