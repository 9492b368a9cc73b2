using System.Text.Json.Nodes;
using Tugboat.Scheduler.Framework;
using Tugboat.Scheduler.Plugins.ImageLocality;

namespace Tugboat.Scheduler.Tests.Plugins;

/// <summary>ImageLocality against tables of node images, with upstream's thresholds and spread scaling.</summary>
public sealed class ImageLocalityTests
{
    private const long Mb = 1024 * 1024;

    [Theory]
    [InlineData("nginx", "nginx:latest")]
    [InlineData("nginx:1.25", "nginx:1.25")]
    [InlineData("registry:5000/app", "registry:5000/app:latest")]
    [InlineData("registry:5000/app:v1", "registry:5000/app:v1")]
    [InlineData("docker.io/library/nginx@sha256:abc", "docker.io/library/nginx@sha256:abc")]
    public void PodImagesWithoutATagAreLatest(string image, string expected) => Assert.Equal(expected, ImageLocality.Normalized(image));

    [Theory]
    [InlineData(0, 1, 0)]
    [InlineData(22, 1, 0)]
    [InlineData(23, 1, 0)]
    [InlineData(500, 1, 48)]
    [InlineData(1000, 1, 100)]
    [InlineData(5000, 1, 100)]
    // Two containers double the ceiling.
    [InlineData(1000, 2, 49)]
    public void ScoresClampBetween23MbAnd1000MbPerContainer(long sumMb, int containers, long expected) =>
        Assert.Equal(expected, ImageLocality.Priority(sumMb * Mb, containers));

    private static JsonObject Node(string name, params (string[] Names, long Mb)[] images)
    {
        var node = new JsonObject { ["metadata"] = new JsonObject { ["name"] = name }, ["status"] = new JsonObject { ["images"] = new JsonArray() } };
        foreach (var (names, mb) in images)
        {
            node["status"]!["images"]!.AsArray().Add(new JsonObject { ["names"] = new JsonArray([.. names.Select(n => (JsonNode)n)]), ["sizeBytes"] = mb * Mb });
        }
        return node;
    }

    public static TheoryData<string, long[]> Cases => new()
    {
        // nginx (500 MB) is on two of three nodes: 500 × 2/3 ≈ 333 MB → 31 on those, 0 on the third.
        { """{"containers":[{"name":"c","image":"nginx"}]}""", [31, 0, 31] },
        // Tagged the same way the node reports it: found; the 30 MB sidecar is only on n2 (10 MB after spread, under 23 MB).
        { """{"containers":[{"name":"c","image":"gcr.io/big:v1"},{"name":"s","image":"sidecar:1"}]}""", [0, 0, 0] },
        // Init containers count too: n3 adds gcr.io/big (40 MB × 1/3), over a ceiling of two containers.
        { """{"initContainers":[{"name":"i","image":"gcr.io/big:v1"}],"containers":[{"name":"c","image":"nginx:latest"}]}""", [15, 0, 16] },
        // An image on no node scores nothing anywhere.
        { """{"containers":[{"name":"c","image":"unknown:1"}]}""", [0, 0, 0] },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void NodesWithThePodsImagesScoreByTheirSizeAndSpread(string spec, long[] expected)
    {
        var cache = new ImageStates();
        var nodes = new[]
        {
            new NodeInfo(Node("n1", (["docker.io/library/nginx:latest", "nginx:latest"], 500))),
            new NodeInfo(Node("n2", (["sidecar:1"], 30))),
            new NodeInfo(Node("n3", (["nginx:latest"], 500), (["gcr.io/big:v1"], 40))),
        };
        foreach (var n in nodes)
        {
            cache.Add(n);
        }
        var pod = new PodInfo(JsonNode.Parse($$"""{"metadata":{"name":"p","namespace":"default","uid":"u"},"spec":{{spec}}}""")!.AsObject());
        var plugin = new ImageLocality();
        var state = new CycleState();
        Assert.True(plugin.PreFilter(state, pod, nodes).IsSuccess);
        Assert.Equal(expected, nodes.Select(n => plugin.Score(state, pod, n)));
    }

    [Fact]
    public void RemovingANodeNarrowsTheSpreadOfItsImages()
    {
        var cache = new ImageStates();
        var a = new NodeInfo(Node("a", (["app:1"], 600)));
        var b = new NodeInfo(Node("b", (["app:1"], 600)));
        cache.Add(a);
        cache.Add(b);
        Assert.Equal(2, a.ImageStates["app:1"].NumNodes);
        cache.Remove(b);
        Assert.Equal(1, a.ImageStates["app:1"].NumNodes);
    }
}
