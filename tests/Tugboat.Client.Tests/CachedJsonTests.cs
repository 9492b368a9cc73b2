using System.Text;
using System.Text.Json.Nodes;

namespace Tugboat.Client.Tests;

public sealed class CachedJsonTests
{
    private const string Fields = """[{"manager":"kubectl","fieldsV1":{"f:metadata":{"f:labels":{"k:{\"a\":1}":{}}}},"time":"2026-11-21T00:00:00Z"}]""";

    [Theory]
    [InlineData("""{"name":"p","managedFields":MF,"uid":"u1"}""")]
    [InlineData("""{"managedFields":MF,"name":"p","uid":"u1"}""")]
    [InlineData("""{"name":"p","uid":"u1","managedFields":MF}""")]
    [InlineData("{ \"name\" : \"p\" ,\n        \"managedFields\" : MF ,\n        \"uid\" : \"u1\" }")]
    [InlineData("{\n      \"managedFields\": MF,\n      \"name\": \"p\", \"uid\": \"u1\"\n    }")]
    public void A_watch_events_object_loses_only_its_managed_fields(string metadata)
    {
        var line = """{"type":"MODIFIED","object":{"kind":"Pod","metadata":META,"spec":{"note":"say \"hi\" \u003c3","nested":{"metadata":{"managedFields":[1]}}}}}"""
            .Replace("META", metadata.Replace("MF", Fields, StringComparison.Ordinal), StringComparison.Ordinal);
        var (type, obj, key) = CachedJson.WatchEvent(Encoding.UTF8.GetBytes(line));
        Assert.Equal("MODIFIED", type);
        Assert.Equal("p", key);
        var expected = JsonNode.Parse(line)!["object"]!.AsObject();
        expected["metadata"]!.AsObject().Remove("managedFields");
        Assert.True(JsonNode.DeepEquals(expected, obj), obj.ToJsonString());
        // Only the object's own metadata is touched; strings keep their escapes' meaning.
        Assert.Equal("say \"hi\" <3", obj["spec"]!["note"]!.GetValue<string>());
        Assert.NotNull(obj["spec"]!["nested"]!["metadata"]!["managedFields"]);
    }

    [Fact]
    public void Metadata_with_managed_fields_alone_becomes_empty_and_other_events_pass_unchanged()
    {
        var (_, only, noKey) = CachedJson.WatchEvent(Encoding.UTF8.GetBytes("""{"object":{"metadata":{"managedFields":[]}},"type":"ADDED"}"""));
        Assert.Equal("""{"metadata":{}}""", only.ToJsonString());
        Assert.Equal(string.Empty, noKey);
        var plain = """{"type":"DELETED","object":{"metadata":{"namespace":"ns","ownerReferences":[{"name":"owner"}],"name":"x","labels":{"managedFields":"a label","name":"label"}}}}""";
        var (type, obj, key) = CachedJson.WatchEvent(Encoding.UTF8.GetBytes(plain));
        Assert.Equal("DELETED", type);
        Assert.Equal("ns/x", key);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(plain)!["object"], obj));
        Assert.Throws<System.Text.Json.JsonException>(() => CachedJson.WatchEvent("""{"type":"ADDED"}"""u8));
    }

    [Fact]
    public void A_lists_items_lose_their_managed_fields_and_its_metadata_is_read_wherever_it_is()
    {
        var list = """{"kind":"PodList","items":[{"metadata":{"name":"a","managedFields":MF}},{"metadata":{"name":"b","namespace":"ns"}}],"metadata":{"resourceVersion":"42","continue":"next"}}"""
            .Replace("MF", Fields, StringComparison.Ordinal);
        var (items, rv, cont) = CachedJson.List(Encoding.UTF8.GetBytes(list));
        Assert.Equal(["""{"metadata":{"name":"a"}}""", """{"metadata":{"name":"b","namespace":"ns"}}"""], items.Select(i => i.Object.ToJsonString()));
        Assert.Equal(["a", "ns/b"], items.Select(i => i.Key));
        Assert.Equal("42", rv);
        Assert.Equal("next", cont);
        var (none, rv2, cont2) = CachedJson.List("""{"metadata":{"resourceVersion":"7"},"items":null}"""u8);
        Assert.Empty(none);
        Assert.Equal("7", rv2);
        Assert.Null(cont2);
    }
}
