using System.Text.Json.Nodes;
using Tugboat.Api.Schema;
using Tugboat.Api.Serialization;

namespace Tugboat.ApiServer.Registry.Strategies;

/// <summary>One served version of a custom resource: its structural schema (defaults, pruning, validation) and printer columns.</summary>
internal sealed class CustomResourceStrategy(JsonObject schema, JsonArray? printerColumns, bool statusSubresource) : Strategy
{
    public override bool TracksGeneration => true;

    /// <summary>The version's structural schema (published in the OpenAPI documents).</summary>
    public JsonObject Schema => schema;

    public override IReadOnlyList<Column> Columns { get; } = BuildColumns(printerColumns);

    public override void PrepareForCreate(JsonObject obj, RequestContext ctx)
    {
        if (statusSubresource)
        {
            obj.Remove("status");
        }
    }

    public override void Default(JsonObject obj) => StructuralSchema.ApplyDefaults(obj, schema);

    public override List<string> Prune(JsonObject obj, string apiVersion, string kind) => StructuralSchema.Prune(obj, schema);

    public override void Validate(JsonObject obj, List<FieldError> errors)
    {
        foreach (var e in StructuralSchema.Validate(obj, schema))
        {
            errors.Add(e.Type switch
            {
                SchemaErrorType.Required => FieldError.Required(e.Path),
                SchemaErrorType.NotSupported => new FieldError("FieldValueNotSupported", e.Path, $"Unsupported value: {e.Value?.ToJsonString(JsonLimits.Writer)}: supported values: {e.Detail}"),
                SchemaErrorType.TooLong => new FieldError("FieldValueTooLong", e.Path, "Too long: " + e.Detail),
                SchemaErrorType.TooMany => new FieldError("FieldValueTooMany", e.Path, $"Too many: {e.Value?.ToJsonString(JsonLimits.Writer)}: {e.Detail}"),
                _ => FieldError.Invalid(e.Path, e.Value, e.Detail),
            });
        }
    }

    /// <summary>
    /// With additionalPrinterColumns: NAME and those columns (dates print as ages); without: NAME and AGE, as upstream.
    /// </summary>
    private static List<Column> BuildColumns(JsonArray? printerColumns)
    {
        var columns = new List<Column> { Column.Name_() };
        if (printerColumns is not { Count: > 0 })
        {
            columns.Add(Column.Age());
            return columns;
        }
        foreach (var c in printerColumns.Objects())
        {
            var path = c.Str("jsonPath") ?? string.Empty;
            var type = c.Str("type") ?? "string";
            columns.Add(new Column(c.Str("name") ?? string.Empty, type == "date" ? "date" : type, c.Str("format") ?? string.Empty, c.Str("description") ?? string.Empty, (int)(c.Long("priority") ?? 0), (o, now) =>
            {
                var values = JsonPath.Select(o, path);
                if (values.Count == 0)
                {
                    return null;
                }
                if (type == "date")
                {
                    return Cells.Age(values[0]?.ToString(), now);
                }
                return values.Count == 1 && values[0] is JsonValue v ? v.DeepClone() : string.Join(",", values.Select(x => x is JsonValue jv && jv.TryGetValue<string>(out var s) ? s : x?.ToJsonString(JsonLimits.Writer)));
            }));
        }
        return columns;
    }
}
