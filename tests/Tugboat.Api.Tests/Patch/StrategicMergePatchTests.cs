using System.Text.Json.Nodes;
using Tugboat.Api.Patch;

namespace Tugboat.Api.Tests.Patch;

/// <summary>Strategic merge patch over the generated metadata, with cases after apimachinery's strategicpatch tests.</summary>
public sealed class StrategicMergePatchTests
{
    private static JsonObject O(string json) => JsonNode.Parse(json)!.AsObject();

    private static string Pod(string original, string patch) =>
        StrategicMergePatch.Apply(O(original), O(patch), PatchMeta.Instance.DefinitionOf("v1", "Pod")!).ToJsonString();

    [Fact]
    public void KnowsTheBuiltInKindsAndNotOthers()
    {
        Assert.Equal("v1.Deployment", PatchMeta.Instance.DefinitionOf("apps/v1", "Deployment"));
        Assert.Equal("v1.Scale", PatchMeta.Instance.DefinitionOf("autoscaling/v1", "Scale"));
        Assert.Null(PatchMeta.Instance.DefinitionOf("example.com/v1", "Widget"));
        var containers = PatchMeta.Instance.Field("v1.PodSpec", "containers")!;
        Assert.Equal(("list", "v1.Container", true, "name"), (containers.Shape, containers.Item, containers.Merge, containers.MergeKey));
        Assert.True(PatchMeta.Instance.Field("v1.PodSpec", "volumes")!.RetainKeys);
    }

    [Fact]
    public void MergesListsByMergeKeyAndKeepsOtherElements() => Assert.Equal(
        """{"spec":{"containers":[{"name":"a","image":"a:2","ports":[{"containerPort":80}]},{"name":"b","image":"b"},{"name":"c","image":"c"}]}}""",
        Pod("""{"spec":{"containers":[{"name":"a","image":"a:1","ports":[{"containerPort":80}]},{"name":"b","image":"b"}]}}""",
            """{"spec":{"containers":[{"name":"a","image":"a:2"},{"name":"c","image":"c"}]}}"""));

    [Fact]
    public void ReplacesListsWithoutAMergeStrategy() => Assert.Equal(
        """{"spec":{"tolerations":[{"key":"new"}]}}""",
        Pod("""{"spec":{"tolerations":[{"key":"old"}]}}""", """{"spec":{"tolerations":[{"key":"new"}]}}"""));

    [Fact]
    public void NullDeletesAndMapsMerge() => Assert.Equal(
        """{"metadata":{"labels":{"b":"2","c":"3"}},"spec":{"nodeSelector":{"x":"y","z":"w"}}}""",
        Pod("""{"metadata":{"labels":{"a":"1","b":"2"}},"spec":{"nodeSelector":{"x":"y"},"hostname":"h"}}""",
            """{"metadata":{"labels":{"a":null,"c":"3"}},"spec":{"nodeSelector":{"z":"w"},"hostname":null}}"""));

    [Fact]
    public void PatchDirectiveDeletesListElementsAndReplacesMaps()
    {
        Assert.Equal(
            """{"spec":{"containers":[{"name":"b"}]}}""",
            Pod("""{"spec":{"containers":[{"name":"a"},{"name":"b"}]}}""", """{"spec":{"containers":[{"$patch":"delete","name":"a"}]}}"""));
        Assert.Equal(
            """{"metadata":{"labels":{"only":"this"}}}""",
            Pod("""{"metadata":{"labels":{"a":"1","b":"2"}}}""", """{"metadata":{"labels":{"$patch":"replace","only":"this"}}}"""));
        Assert.Equal(
            """{"spec":{"containers":[{"name":"z"}]}}""",
            Pod("""{"spec":{"containers":[{"name":"a"},{"name":"b"}]}}""", """{"spec":{"containers":[{"name":"z"},{"$patch":"replace"}]}}"""));
        Assert.Equal(
            """{"spec":{}}""",
            Pod("""{"spec":{"securityContext":{"runAsUser":1}}}""", """{"spec":{"securityContext":{"$patch":"delete"}}}"""));
    }

    [Fact]
    public void SetElementOrderReordersAndDeleteFromPrimitiveListRemoves()
    {
        Assert.Equal(
            """{"spec":{"containers":[{"name":"c"},{"name":"a"},{"name":"b"}]}}""",
            Pod("""{"spec":{"containers":[{"name":"a"},{"name":"b"}]}}""",
                """{"spec":{"$setElementOrder/containers":[{"name":"c"},{"name":"a"},{"name":"b"}],"containers":[{"name":"c"}]}}"""));
        Assert.Equal(
            """{"metadata":{"finalizers":["keep"]}}""",
            Pod("""{"metadata":{"finalizers":["keep","drop"]}}""", """{"metadata":{"$deleteFromPrimitiveList/finalizers":["drop"]}}"""));
    }

    [Fact]
    public void MergesScalarListsWithTheMergeStrategyAsSets() => Assert.Equal(
        """{"metadata":{"finalizers":["a","b","c"]}}""",
        Pod("""{"metadata":{"finalizers":["a","b"]}}""", """{"metadata":{"finalizers":["b","c"]}}"""));

    [Fact]
    public void RetainKeysDropsFieldsOfTheOldVariant()
    {
        var deployment = PatchMeta.Instance.DefinitionOf("apps/v1", "Deployment")!;
        var result = StrategicMergePatch.Apply(
            O("""{"spec":{"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":"25%"}}}}"""),
            O("""{"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate"}}}"""),
            deployment);
        Assert.Equal("""{"spec":{"strategy":{"type":"Recreate"}}}""", result.ToJsonString());
    }

    [Fact]
    public void NoDirectiveIsLeftInTheResult()
    {
        var result = Pod("""{"spec":{}}""", """{"spec":{"containers":[{"name":"a","env":[{"name":"x","$patch":"merge"}]}],"securityContext":{"$patch":"replace","runAsUser":2}}}""");
        Assert.DoesNotContain("$", result);
    }

    [Theory]
    [InlineData("""{"spec":{"containers":[{"image":"no-merge-key"}]}}""")]
    [InlineData("""{"$patch":"bogus"}""")]
    [InlineData("""{"spec":{"$retainKeys":"not-a-list"}}""")]
    [InlineData("""{"spec":{"$unknownDirective":1}}""")]
    public void RejectsMalformedPatches(string patch) =>
        Assert.Throws<PatchException>(() => Pod("""{"spec":{"containers":[{"name":"a"}]}}""", patch));

    [Fact]
    public void DoesNotModifyItsInputs()
    {
        var original = O("""{"spec":{"containers":[{"name":"a","image":"1"}]}}""");
        var patch = O("""{"spec":{"containers":[{"name":"a","image":"2"}]}}""");
        StrategicMergePatch.Apply(original, patch, "v1.Pod");
        Assert.Equal("""{"spec":{"containers":[{"name":"a","image":"1"}]}}""", original.ToJsonString());
        Assert.Equal("""{"spec":{"containers":[{"name":"a","image":"2"}]}}""", patch.ToJsonString());
    }
}
