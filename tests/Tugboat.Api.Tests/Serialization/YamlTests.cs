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
}
