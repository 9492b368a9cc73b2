using System.Text.Json.Nodes;
using Tugboat.ApiServer.Registry;

namespace Tugboat.ApiServer.Http;

/// <summary>Server-side printing: meta.k8s.io/v1 Table responses with each kind's columns. The objects passed in are consumed.</summary>
internal static class Tables
{
    public static JsonObject Build(ResourceType rt, IEnumerable<JsonObject> objects, string? resourceVersion, string? continueToken, string includeObject, bool withHeaders = true)
    {
        var now = DateTimeOffset.UtcNow;
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
        var rows = new JsonArray();
        foreach (var obj in objects)
        {
            var cells = new JsonArray(columns.Select(c => ToNode(c.Cell(obj, now))).ToArray());
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
            rows.Add(row);
        }
        table["rows"] = rows;
        return table;
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
