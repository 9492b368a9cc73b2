using System.Text.Json.Nodes;
using Tugboat.ApiServer.Registry;

namespace Tugboat.ApiServer.Http;

/// <summary>Server-side printing: meta.k8s.io/v1 Table responses with each kind's columns. The objects passed in are consumed.</summary>
internal static class Tables
{
    public static JsonObject Build(ResourceType rt, IEnumerable<JsonObject> objects, string? resourceVersion, string? continueToken, string includeObject, bool withHeaders = true)
    {
        var table = Header(rt, resourceVersion, continueToken, withHeaders);
        var now = DateTimeOffset.UtcNow;
        table["rows"] = new JsonArray(objects.Select(o => (JsonNode)Row(rt, o, includeObject, now)).ToArray());
        return table;
    }

    /// <summary>
    /// Writes a Table for stored objects row by row, so that only one object is parsed at a time however long the list.
    /// </summary>
    public static void Write(System.Text.Json.Utf8JsonWriter writer, ResourceType rt, IEnumerable<JsonObject> objects, string? resourceVersion, string? continueToken, string includeObject)
    {
        var now = DateTimeOffset.UtcNow;
        var options = ObjectCodec.WireOptions;
        writer.WriteStartObject();
        foreach (var (name, value) in Header(rt, resourceVersion, continueToken, withHeaders: true))
        {
            writer.WritePropertyName(name);
            value!.WriteTo(writer, options);
        }
        writer.WritePropertyName("rows");
        writer.WriteStartArray();
        foreach (var obj in objects)
        {
            Row(rt, obj, includeObject, now).WriteTo(writer, options);
        }
        writer.WriteEndArray();
        writer.WriteEndObject();
    }

    private static JsonObject Header(ResourceType rt, string? resourceVersion, string? continueToken, bool withHeaders)
    {
        var columns = rt.Strategy.Columns;
        var meta = new JsonObject();
        if (resourceVersion is not null)
        {
            meta["resourceVersion"] = resourceVersion;
        }
        if (continueToken is not null)
        {
            meta["continue"] = continueToken;
        }
        var table = new JsonObject
        {
            ["kind"] = "Table",
            ["apiVersion"] = "meta.k8s.io/v1",
            ["metadata"] = meta,
        };
        if (withHeaders)
        {
            table["columnDefinitions"] = new JsonArray(columns.Select(c => (JsonNode)new JsonObject
            {
                ["name"] = c.Name,
                ["type"] = c.Type,
                ["format"] = c.Format,
                ["description"] = c.Description,
                ["priority"] = c.Priority,
            }).ToArray());
        }
        return table;
    }

    private static JsonObject Row(ResourceType rt, JsonObject obj, string includeObject, DateTimeOffset now)
    {
        var cells = new JsonArray(rt.Strategy.Columns.Select(c => ToNode(c.Cell(obj, now))).ToArray());
        var row = new JsonObject { ["cells"] = cells };
        switch (includeObject)
        {
            case "None":
                break;
            case "Object":
                row["object"] = obj;
                break;
            default:
                // The object is not used after its row is built, so its metadata moves into the row.
                var metadata = obj["metadata"];
                obj.Remove("metadata");
                row["object"] = new JsonObject
                {
                    ["kind"] = "PartialObjectMetadata",
                    ["apiVersion"] = "meta.k8s.io/v1",
                    ["metadata"] = metadata,
                };
                break;
        }
        return row;
    }

    private static JsonNode? ToNode(object? value) => value switch
    {
        null => null,
        string s => JsonValue.Create(s),
        long l => JsonValue.Create(l),
        int i => JsonValue.Create(i),
        bool b => JsonValue.Create(b),
        JsonNode n => n,
        _ => JsonValue.Create(value.ToString()),
    };
}
