using System.Text.Json.Nodes;
using Tugboat.Api.Patch;

namespace Tugboat.Api.Tests.Patch;

public sealed class JsonMergePatchTests
{
    [Theory]
    [InlineData("""{"a":"b"}""", """{"a":"c"}""", """{"a":"c"}""")]
    [InlineData("""{"a":"b"}""", """{"b":"c"}""", """{"a":"b","b":"c"}""")]
    [InlineData("""{"a":"b"}""", """{"a":null}""", """{}""")]
    [InlineData("""{"a":"b","b":"c"}""", """{"a":null}""", """{"b":"c"}""")]
    [InlineData("""{"a":["b"]}""", """{"a":"c"}""", """{"a":"c"}""")]
    [InlineData("""{"a":"c"}""", """{"a":["b"]}""", """{"a":["b"]}""")]
    [InlineData("""{"a":{"b":"c"}}""", """{"a":{"b":"d","c":null}}""", """{"a":{"b":"d"}}""")]
    [InlineData("""{"a":[{"b":"c"}]}""", """{"a":[1]}""", """{"a":[1]}""")]
    [InlineData("""{"e":null}""", """{"a":1}""", """{"e":null,"a":1}""")]
    [InlineData("""{}""", """{"a":{"bb":{"ccc":null}}}""", """{"a":{"bb":{}}}""")]
    public void FollowsRfc7386(string target, string patch, string expected)
    {
        var result = JsonMergePatch.Apply(JsonNode.Parse(target), JsonNode.Parse(patch));
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(expected), result), result?.ToJsonString());
    }

    [Fact]
    public void DoesNotModifyTheTarget()
    {
        var target = JsonNode.Parse("""{"a":{"b":1}}""");
        JsonMergePatch.Apply(target, JsonNode.Parse("""{"a":{"b":2}}"""));
        Assert.Equal(1, target!["a"]!["b"]!.GetValue<int>());
    }
}

public sealed class JsonPatchTests
{
    private static string Apply(string doc, string ops)
    {
        var result = JsonPatch.Apply(JsonNode.Parse(doc), JsonNode.Parse(ops))!;
        // Member order is not significant in JSON objects; compare in key order.
        return Sorted(result).ToJsonString();
    }

    private static JsonNode Sorted(JsonNode node) => node switch
    {
        JsonObject o => new JsonObject(o.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => KeyValuePair.Create(kv.Key, kv.Value is null ? null : Sorted(kv.Value)))),
        JsonArray a => new JsonArray(a.Select(n => n is null ? null : Sorted(n)).ToArray()),
        _ => node.DeepClone(),
    };

    [Fact]
    public void AddsRemovesReplacesMovesCopiesAndTests()
    {
        Assert.Equal("""{"a":1,"b":2}""", Apply("""{"a":1}""", """[{"op":"add","path":"/b","value":2}]"""));
        Assert.Equal("""{"l":[1,9,2]}""", Apply("""{"l":[1,2]}""", """[{"op":"add","path":"/l/1","value":9}]"""));
        Assert.Equal("""{"l":[1,2,3]}""", Apply("""{"l":[1,2]}""", """[{"op":"add","path":"/l/-","value":3}]"""));
        Assert.Equal("""{}""", Apply("""{"a":1}""", """[{"op":"remove","path":"/a"}]"""));
        Assert.Equal("""{"a":2}""", Apply("""{"a":1}""", """[{"op":"replace","path":"/a","value":2}]"""));
        Assert.Equal("""{"b":1}""", Apply("""{"a":1}""", """[{"op":"move","from":"/a","path":"/b"}]"""));
        Assert.Equal("""{"a":{"x":1},"b":{"x":1}}""", Apply("""{"a":{"x":1}}""", """[{"op":"copy","from":"/a","path":"/b"}]"""));
        Assert.Equal("""{"a/b":1,"m~n":2}""", Apply("""{"a/b":0,"m~n":2}""", """[{"op":"test","path":"/m~0n","value":2},{"op":"replace","path":"/a~1b","value":1}]"""));
    }

    [Theory]
    [InlineData("""[{"op":"remove","path":"/missing"}]""")]
    [InlineData("""[{"op":"replace","path":"/missing","value":1}]""")]
    [InlineData("""[{"op":"test","path":"/a","value":2}]""")]
    [InlineData("""[{"op":"add","path":"/x/y","value":2}]""")]
    [InlineData("""[{"op":"bogus","path":"/a"}]""")]
    [InlineData("""[{"op":"add","path":"/b"}]""")]
    [InlineData("""{"op":"add"}""")]
    [InlineData("""[{"op":1,"path":"/a"}]""")]
    [InlineData("""[{"op":"add","path":{"x":1},"value":1}]""")]
    [InlineData("""[{"op":"copy","from":["/a"],"path":"/b"}]""")]
    public void FailsWithoutPartialChanges(string ops)
    {
        var doc = JsonNode.Parse("""{"a":1}""");
        Assert.Throws<PatchException>(() => JsonPatch.Apply(doc, JsonNode.Parse(ops)));
        Assert.Equal("""{"a":1}""", doc!.ToJsonString());
    }

    [Fact]
    public void CopiesAreHeldToTheirByteBudget()
    {
        var doc = JsonNode.Parse("""{"a":"0123456789"}""");
        var ops = JsonNode.Parse(string.Concat("[", string.Join(",", Enumerable.Range(0, 10).Select(i => $$"""{"op":"copy","from":"/a","path":"/c{{i}}"}""")), "]"));
        Assert.Equal("Unable to complete the copy, the accumulated size increase of copy is 108, exceeding the limit 100", Assert.Throws<PatchException>(() => JsonPatch.Apply(doc, ops, 100)).Message);
        Assert.Equal(11, JsonPatch.Apply(doc, ops, 120)!.AsObject().Count);
    }

    [Fact]
    public void ValuesMayNotNestDeeperThanRequestBodies()
    {
        // The value nests as deep as a patch body (array, operation, value) can carry.
        var doc = JsonNode.Parse("""{"a":{"b":{"c":{}}}}""");
        var value = new string('[', Tugboat.Api.Serialization.JsonLimits.MaxBodyDepth - 3) + new string(']', Tugboat.Api.Serialization.JsonLimits.MaxBodyDepth - 3);
        Assert.NotNull(JsonPatch.Apply(doc, JsonNode.Parse($$"""[{"op":"add","path":"/a","value":{{value}}}]""", documentOptions: Tugboat.Api.Serialization.JsonLimits.Document)));
        var e = Assert.Throws<PatchException>(() => JsonPatch.Apply(doc, JsonNode.Parse($$"""[{"op":"add","path":"/a/b/c/d","value":{{value}}}]""", documentOptions: Tugboat.Api.Serialization.JsonLimits.Document)));
        Assert.Equal("the patched object would nest deeper than 990 levels at \"/a/b/c/d\"", e.Message);
    }
}
