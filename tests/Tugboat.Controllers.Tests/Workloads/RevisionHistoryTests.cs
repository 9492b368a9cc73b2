using System.Text.Json.Nodes;
using Tugboat.Controllers.Deployment;

namespace Tugboat.Controllers.Tests.Workloads;

public sealed class RevisionHistoryTests
{
    private static JsonObject Set(string revision, string? history)
    {
        var annotations = new JsonObject { ["deployment.kubernetes.io/revision"] = revision };
        if (history is not null)
        {
            annotations["deployment.kubernetes.io/revision-history"] = history;
        }
        return new JsonObject { ["metadata"] = new JsonObject { ["annotations"] = annotations } };
    }

    [Theory]
    [InlineData("1", null, "1")]
    [InlineData("3", "1", "1,3")]
    [InlineData("5", "1,3", "1,3,5")]
    public void TheRevisionASetHadIsAppended(string revision, string? history, string expected) =>
        Assert.Equal(expected, DeploymentController.RevisionHistory(Set(revision, history)));

    [Fact]
    public void TheOldestRevisionsGoPastTwoThousandCharacters()
    {
        // 1,000 earlier revisions take about 4,400 characters.
        var earlier = string.Join(",", Enumerable.Range(1, 1000).Select(i => (i * 2).ToString(System.Globalization.CultureInfo.InvariantCulture)));
        var history = DeploymentController.RevisionHistory(Set("2001", earlier));
        Assert.InRange(history.Length, 1990, 2000);
        Assert.EndsWith(",1998,2000,2001", history, StringComparison.Ordinal);
        Assert.False(history.StartsWith("2,4,", StringComparison.Ordinal));
    }
}
