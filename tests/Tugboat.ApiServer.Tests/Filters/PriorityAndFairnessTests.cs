using Tugboat.ApiServer.Http;
using Microsoft.AspNetCore.Http;
using Tugboat.ApiServer.Filters;
using Tugboat.ApiServer.Security;

namespace Tugboat.ApiServer.Tests.Filters;

public sealed class PriorityAndFairnessTests
{
    private static ValueTask<PriorityAndFairness.Seat?> Admit(PriorityAndFairness flow, UserInfo user, string path, string query = "")
    {
        var http = Request(path, query);
        return flow.AdmitAsync(user, RequestAttributes.Of(http.Request), http);
    }

    private static HttpContext Request(string path, string query = "")
    {
        var http = new DefaultHttpContext();
        http.Request.Method = "GET";
        http.Request.Path = path;
        http.Request.QueryString = new QueryString(query);
        return http;
    }

    private static readonly UserInfo Admin = new("system:admin", ["system:masters", "system:authenticated"]);
    private static readonly UserInfo Node = new("system:node:n1", ["system:nodes", "system:authenticated"]);
    private static readonly UserInfo Alice = new("alice", ["system:authenticated"]);
    private static readonly UserInfo Robot = new("system:serviceaccount:apps:robot", ["system:serviceaccounts", "system:serviceaccounts:apps", "system:authenticated"]);
    private static readonly UserInfo Anonymous = new("system:anonymous", ["system:unauthenticated"]);

    [Theory]
    [InlineData("admin", "/api/v1/pods", null)]
    [InlineData("alice", "/readyz", null)]
    [InlineData("alice", "/livez/ping", null)]
    [InlineData("node", "/api/v1/nodes/n1/status", "node-high")]
    [InlineData("node", "/api/v1/nodes/n1", "node-high")]
    [InlineData("node", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1", "node-high")]
    [InlineData("node", "/api/v1/pods", "system")]
    [InlineData("robot", "/api/v1/namespaces/apps/configmaps", "workload-low")]
    [InlineData("alice", "/api/v1/pods", "global-default")]
    [InlineData("anonymous", "/api/v1/pods", "catch-all")]
    public void ClassifiesByTheBuiltInFlowSchemas(string who, string path, string? level)
    {
        var user = who switch { "admin" => Admin, "node" => Node, "robot" => Robot, "anonymous" => Anonymous, _ => Alice };
        Assert.Equal(level, PriorityAndFairness.Classify(user, RequestAttributes.Of(Request(path).Request)));
    }

    [Theory]
    [InlineData("/api/v1/pods", "watch=true", true)]
    [InlineData("/api/v1/watch/pods", "", true)]
    [InlineData("/api/v1/namespaces/a/pods/p/exec", "command=sh", true)]
    [InlineData("/api/v1/namespaces/a/pods/p/log", "follow=true", true)]
    [InlineData("/api/v1/namespaces/a/pods/p/log", "", false)]
    [InlineData("/api/v1/pods", "", false)]
    public void LongRunningRequestsAreKnown(string path, string query, bool longRunning) =>
        Assert.Equal(longRunning, PriorityAndFairness.IsLongRunning(RequestAttributes.Of(Request(path, "?" + query).Request), Request(path, "?" + query).Request.Query));

    [Fact]
    public void SeatsAreSharedOutAsUpstreamShares()
    {
        var flow = new PriorityAndFairness(400, 200);
        // 600 seats over 245 shares.
        Assert.Equal(74, flow.Limits("system").Seats);
        Assert.Equal(98, flow.Limits("node-high").Seats);
        Assert.Equal(49, flow.Limits("global-default").Seats);
        Assert.Equal(13, flow.Limits("catch-all").Seats);
        Assert.Equal(0, flow.Limits("catch-all").Queue);
    }

    [Fact]
    public async Task AFullLevelQueuesThenRefusesWhileOtherLevelsAreServed()
    {
        // 6 seats: global-default gets one and a queue of three.
        var flow = new PriorityAndFairness(4, 2);
        Assert.Equal((1, 3), flow.Limits("global-default"));
        var held = await Admit(flow, Alice, "/api/v1/pods");
        Assert.NotNull(held);
        var queued = Enumerable.Range(0, 3).Select(_ => Admit(flow, Alice, "/api/v1/pods").AsTask()).ToList();
        Assert.All(queued, t => Assert.False(t.IsCompleted));
        await Assert.ThrowsAsync<TooManyRequestsException>(async () => await Admit(flow, Alice, "/api/v1/pods"));

        // Nodes and admins are not held up by the full level.
        using (var node = await Admit(flow, Node, "/api/v1/nodes/n1/status"))
        {
            Assert.NotNull(node);
        }
        Assert.Null(await Admit(flow, Admin, "/api/v1/pods"));

        // Seats given back go to the queue in turn.
        held!.Dispose();
        while (queued.Count > 0)
        {
            var next = await Task.WhenAny(queued);
            queued.Remove(next);
            (await next)!.Dispose();
        }
    }

    [Fact]
    public async Task ZeroLimitsTurnFlowControlOff()
    {
        var flow = new PriorityAndFairness(0, 0);
        Assert.False(flow.Enabled);
        Assert.Null(await Admit(flow, Alice, "/api/v1/pods"));
    }

    [Fact]
    public async Task ListsTakeASeatPerHundredObjectsUpToTen()
    {
        var counted = new List<string>();
        var flow = new PriorityAndFairness(400, 200, (path, _) =>
        {
            counted.Add(path);
            return ValueTask.FromResult(path.Contains("configmaps", StringComparison.Ordinal) ? 250L : 10_000L);
        });
        Assert.Equal(10, (await Admit(flow, Alice, "/api/v1/pods"))!.Count);
        Assert.Equal(3, (await Admit(flow, Alice, "/api/v1/namespaces/a/configmaps"))!.Count);
        Assert.Equal(1, (await Admit(flow, Alice, "/api/v1/pods", "?limit=50"))!.Count);
        Assert.Equal(1, (await Admit(flow, Alice, "/api/v1/namespaces/a/pods/p"))!.Count);
        // Counts are asked for once in a while, not on every LIST.
        Assert.Equal(2, counted.Count);

        // 49 seats: four LISTs of every pod fit, the fifth waits until one ends.
        var flow2 = new PriorityAndFairness(400, 200, (_, _) => ValueTask.FromResult(10_000L));
        var held = new List<PriorityAndFairness.Seat>();
        for (var i = 0; i < 4; i++)
        {
            held.Add((await Admit(flow2, Alice, "/api/v1/pods"))!);
        }
        var fifth = Admit(flow2, Alice, "/api/v1/pods").AsTask();
        Assert.False(fifth.IsCompleted);
        held[0].Dispose();
        Assert.Equal(10, (await fifth)!.Count);
    }
}
