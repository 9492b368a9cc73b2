using System.Text.Json.Nodes;
using Tugboat.Api.Schema;

namespace Tugboat.Api.Tests.Schema;

public sealed class StructuralSchemaTests
{
    private static readonly JsonObject Schema = JsonNode.Parse("""
        {"type":"object","properties":{
          "spec":{"type":"object","required":["size"],"properties":{
            "size":{"type":"string","enum":["small","large"]},
            "replicas":{"type":"integer","minimum":0,"maximum":10,"default":1},
            "ratio":{"type":"number","exclusiveMinimum":true,"minimum":0},
            "name":{"type":"string","pattern":"^[a-z]+$","maxLength":8,"minLength":2},
            "tags":{"type":"array","maxItems":2,"items":{"type":"string"}},
            "port":{"x-kubernetes-int-or-string":true},
            "labels":{"type":"object","additionalProperties":{"type":"string"}},
            "free":{"type":"object","x-kubernetes-preserve-unknown-fields":true},
            "nested":{"type":"object","default":{},"properties":{"mode":{"type":"string","default":"auto"}}}}}}}
        """)!.AsObject();

    private static JsonObject O(string json) => JsonNode.Parse(json)!.AsObject();

    [Fact]
    public void AppliesDefaultsRecursively()
    {
        var obj = O("""{"spec":{"size":"small"}}""");
        StructuralSchema.ApplyDefaults(obj, Schema);
        Assert.Equal("""{"spec":{"size":"small","replicas":1,"nested":{"mode":"auto"}}}""", obj.ToJsonString());
    }

    [Fact]
    public void PrunesUndeclaredFieldsButKeepsPreservedOnesAndRootMetadata()
    {
        var obj = O("""{"apiVersion":"x/v1","kind":"K","metadata":{"name":"a"},"top":1,"spec":{"size":"small","bogus":true,"free":{"any":{"thing":1}},"labels":{"a":"b"},"tags":["x"]}}""");
        Assert.Equal(["top", "spec.bogus"], StructuralSchema.Prune(obj, Schema));
        Assert.Equal("""{"apiVersion":"x/v1","kind":"K","metadata":{"name":"a"},"spec":{"size":"small","free":{"any":{"thing":1}},"labels":{"a":"b"},"tags":["x"]}}""", obj.ToJsonString());
    }

    [Fact]
    public void ReportsViolationsWithUpstreamMessages()
    {
        var errors = StructuralSchema.Validate(O("""{"spec":{"replicas":"three","ratio":0,"name":"ABCDEFGHIJ","tags":["a","b","c"],"port":true,"labels":{"a":1},"size":"huge"}}"""), Schema);
        var text = errors.Select(e => $"{e.Type} {e.Path} {e.Detail}").ToList();
        Assert.Contains("Invalid spec.replicas spec.replicas in body must be of type integer: \"string\"", text);
        Assert.Contains("Invalid spec.ratio spec.ratio in body should be greater than 0", text);
        Assert.Contains("TooLong spec.name may not be longer than 8", text);
        Assert.Contains("Invalid spec.name spec.name in body should match '^[a-z]+$'", text);
        Assert.Contains("TooMany spec.tags must have at most 2 items", text);
        Assert.Contains("Invalid spec.port spec.port in body must be of type integer,string: \"boolean\"", text);
        Assert.Contains("Invalid spec.labels.a spec.labels.a in body must be of type string: \"integer\"", text);
        Assert.Contains("NotSupported spec.size \"small\", \"large\"", text);
        Assert.Contains("Required spec.size ", StructuralSchema.Validate(O("""{"spec":{}}"""), Schema).Select(e => $"{e.Type} {e.Path} {e.Detail}"));
        Assert.Contains("Invalid spec.replicas spec.replicas in body should be less than or equal to 10",
            StructuralSchema.Validate(O("""{"spec":{"size":"small","replicas":11}}"""), Schema).Select(e => $"{e.Type} {e.Path} {e.Detail}"));
    }

    [Fact]
    public void ValidObjectsPassIncludingNumbersBuiltInCode()
    {
        var obj = O("""{"spec":{"size":"large","port":"http","name":"ab"}}""");
        obj["spec"]!["replicas"] = 3L;
        obj["spec"]!["ratio"] = 0.5;
        Assert.Empty(StructuralSchema.Validate(obj, Schema));
    }
}

public sealed class JsonPathTests
{
    private static readonly JsonNode Doc = JsonNode.Parse("""
        {"spec":{"replicas":3,"containers":[{"name":"a","image":"x"},{"name":"b","image":"y"}]},
         "status":{"conditions":[{"type":"Progressing","status":"True"},{"type":"Ready","status":"False"}]}}
        """)!;

    [Theory]
    [InlineData(".spec.replicas", "3")]
    [InlineData("{.spec.replicas}", "3")]
    [InlineData(".spec.containers[1].name", "\"b\"")]
    [InlineData(".spec.containers[*].image", "\"x\",\"y\"")]
    [InlineData(".status.conditions[?(@.type==\"Ready\")].status", "\"False\"")]
    [InlineData(".spec.missing", "")]
    public void SelectsAsKubectlDoes(string path, string expected) =>
        Assert.Equal(expected, string.Join(",", JsonPath.Select(Doc, path).Select(n => n!.ToJsonString())));

    [Fact]
    public void RejectsWhatItDoesNotSupport() => Assert.Throws<FormatException>(() => JsonPath.Select(Doc, ".a[1:2]"));
}
