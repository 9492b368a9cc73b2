using System.Text.Json.Nodes;
using Tugboat.Controllers.Runtime;

namespace Tugboat.Controllers.Tests;

public sealed class ControllerHistoryTests
{
    [Fact]
    public void RevisionDataIsAPatchThatReplacesTheWholeTemplate()
    {
        var template = JsonNode.Parse("""{"metadata":{"labels":{"app":"a"}},"spec":{"containers":[{"name":"c","image":"busybox:1.36"}]}}""")!.AsObject();
        var data = ControllerHistory.Data(template);
        // kubectl rollout undo applies this as a strategic merge patch: without the directive, fields added since would survive.
        Assert.Equal("""{"spec":{"template":{"metadata":{"labels":{"app":"a"}},"spec":{"containers":[{"name":"c","image":"busybox:1.36"}]},"$patch":"replace"}}}""", data.ToJsonString());
        Assert.Null(template["$patch"]);
    }
}
