using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Tugboat.ApiServer.Registry.Strategies;

internal sealed partial class ConfigMapStrategy : Strategy
{
    [GeneratedRegex("^[-._a-zA-Z0-9]+$")]
    internal static partial Regex ConfigKey();

    public override IReadOnlyList<Column> Columns { get; } =
    [
        Column.Name_(),
        Column.Int("Data", "Data contains the configuration data.", o => (long)((o.Obj("data")?.Count ?? 0) + (o.Obj("binaryData")?.Count ?? 0))),
        Column.Age(),
    ];

    public override void Validate(JsonObject obj, List<FieldError> errors)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var field in new[] { "data", "binaryData" })
        {
            foreach (var (key, _) in obj.Obj(field) ?? [])
            {
                ValidateKey(field, key, errors);
                if (!seen.Add(key))
                {
                    errors.Add(FieldError.Invalid(field, key, "duplicate of key present in " + (field == "data" ? "binaryData" : "data")));
                }
            }
        }
    }

    internal static void ValidateKey(string field, string key, List<FieldError> errors)
    {
        if (!ConfigKey().IsMatch(key) || key is "." or ".." || key.StartsWith("..", StringComparison.Ordinal) || key.Length > 253)
        {
            errors.Add(FieldError.Invalid($"{field}[{key}]", key, "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"));
        }
    }

    public override void ValidateUpdate(JsonObject obj, JsonObject old, List<FieldError> errors)
    {
        if (old.Bool("immutable") == true)
        {
            if (obj.Bool("immutable") != true)
            {
                errors.Add(FieldError.Forbidden("immutable", "field is immutable when `immutable` is set"));
            }
            if (!JsonNode.DeepEquals(obj["data"], old["data"]))
            {
                errors.Add(FieldError.Forbidden("data", "field is immutable when `immutable` is set"));
            }
            if (!JsonNode.DeepEquals(obj["binaryData"], old["binaryData"]))
            {
                errors.Add(FieldError.Forbidden("binaryData", "field is immutable when `immutable` is set"));
            }
        }
    }
}
