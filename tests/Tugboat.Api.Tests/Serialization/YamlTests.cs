using System.Text.Json.Nodes;
using Tugboat.Api.Serialization;

namespace Tugboat.Api.Tests.Serialization;

public sealed class YamlTests
{
    [Fact]
    public void TypesScalarsAsKubernetesYamlDoes()
    {
        var json = Yaml.ToJson("""
            a: 1
            b: "1"
            c: true
            d: 'true'
            e: null
            f: 1.5
            g: hello
            h: [x, 2]
            i: {j: ~}
            k: |
              line
            """)!;
        Assert.Equal("""{"a":1,"b":"1","c":true,"d":"true","e":null,"f":1.5,"g":"hello","h":["x",2],"i":{"j":null},"k":"line"}""", json.ToJsonString());
    }

    [Fact]
    public void MalformedYamlIsAFormatError() =>
        Assert.Throws<FormatException>(() => Yaml.ToJson("a: [unclosed\nb: {"));

    [Fact]
    public void EmptyDocumentIsNull() => Assert.Null(Yaml.ToJson(string.Empty));

    [Fact]
    public void AnchorsAliasesMergeKeysAndStringTags()
    {
        var json = Yaml.ToJson("""
            base: &base {image: nginx, port: 80}
            copy: *base
            merged:
              <<: *base
              port: 8080
            many:
              <<: [{a: 1, b: 1}, {b: 2, c: 2}]
            quoted: !!str 123
            scalar: &s hello
            again: *s
            """)!;
        Assert.Equal("""{"base":{"image":"nginx","port":80},"copy":{"image":"nginx","port":80},"merged":{"port":8080,"image":"nginx"},"many":{"a":1,"b":1,"c":2},"quoted":"123","scalar":"hello","again":"hello"}""", json.ToJsonString());
    }

    [Fact]
    public void OnlyTheFirstDocumentIsRead() =>
        Assert.Equal("""{"a":1}""", Yaml.ToJson("a: 1\n---\nb: 2\n")!.ToJsonString());

    [Fact]
    public void UnknownAnchorsAreFormatErrors() =>
        Assert.Contains("unknown anchor 'nope'", Assert.Throws<FormatException>(() => Yaml.ToJson("a: *nope")).Message, StringComparison.Ordinal);

    [Theory]
    [InlineData(100_000)]
    [InlineData(Yaml.MaxDepth + 1)]
    public void NestingBeyondTheLimitIsRefusedWithoutRecursion(int depth)
    {
        var e = Assert.Throws<FormatException>(() => Yaml.ToJson(new string('[', depth)));
        Assert.Equal("error converting YAML to JSON: yaml: exceeded max depth of 990", e.Message);
    }

    [Fact]
    public void NestingAtTheLimitIsRead()
    {
        var depth = Yaml.MaxDepth;
        var json = Yaml.ToJson(new string('[', depth) + new string(']', depth));
        Assert.Equal(depth, JsonLimits.Depth(json));
    }

    [Fact]
    public void BillionLaughsIsRefusedAtOnce()
    {
        var yaml = new System.Text.StringBuilder("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
        var previous = "a";
        foreach (var name in "bcdefghi")
        {
            yaml.Append(name).Append(": &").Append(name).Append(" [").Append(string.Join(",", Enumerable.Repeat("*" + previous, 9))).Append("]\n");
            previous = name.ToString();
        }
        var e = Assert.Throws<FormatException>(() => Yaml.ToJson(yaml.ToString()));
        Assert.Equal("error converting YAML to JSON: yaml: document contains excessive aliasing", e.Message);
    }

    [Fact]
    public void ModestAliasingIsAllowed()
    {
        // 100 references to a 10-node anchor beside 100 plain values: about 90 % of ~1,100 nodes aliased, under go-yaml's 99 %.
        var yaml = "a: &a [1,2,3,4,5,6,7,8,9]\nb: [" + string.Join(",", Enumerable.Repeat("*a", 100)) + "]\nc: [" + string.Join(",", Enumerable.Range(0, 100)) + "]\n";
        Assert.Equal(100, Yaml.ToJson(yaml)!["b"]!.AsArray().Count);
        // Twice the references and no plain values: over 99 %, refused as go-yaml refuses it.
        Assert.Throws<FormatException>(() => Yaml.ToJson("a: &a [1,2,3,4,5,6,7,8,9]\nb: [" + string.Join(",", Enumerable.Repeat("*a", 200)) + "]\n"));
    }

    [Fact]
    public void TheDecodedSizeIsHeldToItsBudget()
    {
        var yaml = "a: &a \"" + new string('x', 1000) + "\"\nb: [" + string.Join(",", Enumerable.Repeat("*a", 50)) + "]\n";
        Assert.Equal("Request entity too large: limit is 20000", Assert.Throws<InputTooLargeException>(() => Yaml.ToJson(yaml, 20_000)).Message);
        Assert.NotNull(Yaml.ToJson(yaml, 100_000));
    }
}
