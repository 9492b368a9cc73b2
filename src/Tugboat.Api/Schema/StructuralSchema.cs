using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Tugboat.Api.Serialization;

namespace Tugboat.Api.Schema;

/// <summary>
/// The structural OpenAPI v3 schemas of custom resources, applied as upstream's apiextensions server does: defaults,
/// pruning of fields the schema does not declare (unless <c>x-kubernetes-preserve-unknown-fields</c>), and validation
/// of types, required fields, enums, patterns, bounds and lengths, with upstream's messages.
/// </summary>
public static class StructuralSchema
{
    private static readonly string[] RootFields = ["apiVersion", "kind", "metadata"];

    /// <summary>Fills in missing fields that have a <c>default</c>, recursively.</summary>
    public static void ApplyDefaults(JsonNode? value, JsonObject schema)
    {
        switch (value)
        {
            case JsonObject obj:
                if (schema["properties"] is JsonObject properties)
                {
                    foreach (var (name, propertyNode) in properties)
                    {
                        if (propertyNode is not JsonObject property)
                        {
                            continue;
                        }
                        var explicitNull = obj.ContainsKey(name) && property.Bool("nullable") == true;
                        if (obj[name] is null && !explicitNull && property["default"] is { } defaultValue)
                        {
                            obj[name] = defaultValue.DeepClone();
                        }
                        if (obj[name] is { } child)
                        {
                            ApplyDefaults(child, property);
                        }
                    }
                }
                if (schema["additionalProperties"] is JsonObject additional)
                {
                    foreach (var (_, child) in obj)
                    {
                        ApplyDefaults(child, additional);
                    }
                }
                break;
            case JsonArray array when schema["items"] is JsonObject items:
                foreach (var item in array)
                {
                    ApplyDefaults(item, items);
                }
                break;
        }
    }

    /// <summary>Removes fields the schema does not declare and returns their paths; the root's apiVersion, kind and metadata are always kept.</summary>
    public static List<string> Prune(JsonObject root, JsonObject schema)
    {
        var pruned = new List<string>();
        Prune(root, schema, string.Empty, pruned, isRoot: true);
        return pruned;
    }

    private static void Prune(JsonNode? value, JsonObject schema, string path, List<string> pruned, bool isRoot = false)
    {
        if (schema.Bool("x-kubernetes-preserve-unknown-fields") == true && schema["properties"] is null && schema["items"] is null && schema["additionalProperties"] is null)
        {
            return;
        }
        switch (value)
        {
            case JsonObject obj:
                var properties = schema["properties"] as JsonObject;
                var additional = schema["additionalProperties"] as JsonObject;
                var preserve = schema.Bool("x-kubernetes-preserve-unknown-fields") == true || schema["additionalProperties"] is JsonValue;
                var embedded = isRoot || schema.Bool("x-kubernetes-embedded-resource") == true;
                foreach (var (name, child) in obj.ToList())
                {
                    var childPath = path.Length == 0 ? name : path + "." + name;
                    if (embedded && RootFields.Contains(name))
                    {
                        continue;
                    }
                    if (properties?[name] is JsonObject property)
                    {
                        Prune(child, property, childPath, pruned);
                    }
                    else if (additional is not null)
                    {
                        Prune(child, additional, childPath, pruned);
                    }
                    else if (!preserve)
                    {
                        pruned.Add(childPath);
                        obj.Remove(name);
                    }
                }
                break;
            case JsonArray array when schema["items"] is JsonObject items:
                for (var i = 0; i < array.Count; i++)
                {
                    Prune(array[i], items, $"{path}[{i}]", pruned);
                }
                break;
        }
    }

    /// <summary>Validates <paramref name="root"/> against <paramref name="schema"/>; an empty result means valid.</summary>
    public static List<SchemaError> Validate(JsonObject root, JsonObject schema)
    {
        var errors = new List<SchemaError>();
        Validate(root, schema, string.Empty, errors, isRoot: true);
        return errors;
    }

    private static void Validate(JsonNode? value, JsonObject schema, string path, List<SchemaError> errors, bool isRoot = false)
    {
        var type = schema.Str("type");
        var at = path.Length == 0 ? "body" : path;
        if (value is null)
        {
            if (schema.Bool("nullable") != true && type is not null)
            {
                errors.Add(new SchemaError(SchemaErrorType.Invalid, path, JsonValue.Create("null"), $"{at} in body must be of type {type}: \"null\""));
            }
            return;
        }
        var actual = TypeOf(value);
        if (schema.Bool("x-kubernetes-int-or-string") == true)
        {
            if (actual is not ("integer" or "string"))
            {
                errors.Add(new SchemaError(SchemaErrorType.Invalid, path, JsonValue.Create(actual), $"{at} in body must be of type integer,string: \"{actual}\""));
                return;
            }
        }
        else if (type is not null && type != actual && !(type == "number" && actual == "integer"))
        {
            errors.Add(new SchemaError(SchemaErrorType.Invalid, path, JsonValue.Create(actual), $"{at} in body must be of type {type}: \"{actual}\""));
            return;
        }
        if (schema["enum"] is JsonArray allowed && !allowed.Any(a => JsonNode.DeepEquals(a, value)))
        {
            errors.Add(new SchemaError(SchemaErrorType.NotSupported, path, value.DeepClone(), string.Join(", ", allowed.Select(a => a?.ToJsonString(JsonLimits.Writer) ?? "null"))));
        }
        switch (value)
        {
            case JsonObject obj:
                var properties = schema["properties"] as JsonObject;
                foreach (var required in schema["required"]?.AsArray().Select(r => r?.GetValue<string>()) ?? [])
                {
                    if (required is not null && !obj.ContainsKey(required) && !(isRoot && RootFields.Contains(required)))
                    {
                        errors.Add(new SchemaError(SchemaErrorType.Required, path.Length == 0 ? required : path + "." + required, null, string.Empty));
                    }
                }
                foreach (var (name, child) in obj)
                {
                    if (isRoot && RootFields.Contains(name))
                    {
                        continue;
                    }
                    var childPath = path.Length == 0 ? name : path + "." + name;
                    if (properties?[name] is JsonObject property)
                    {
                        Validate(child, property, childPath, errors);
                    }
                    else if (schema["additionalProperties"] is JsonObject additional)
                    {
                        Validate(child, additional, childPath, errors);
                    }
                }
                if (schema.Long("maxProperties") is { } maxProperties && obj.Count > maxProperties)
                {
                    errors.Add(new SchemaError(SchemaErrorType.TooMany, path, JsonValue.Create(obj.Count), $"must have at most {maxProperties} items"));
                }
                break;
            case JsonArray array:
                if (schema.Long("maxItems") is { } maxItems && array.Count > maxItems)
                {
                    errors.Add(new SchemaError(SchemaErrorType.TooMany, path, JsonValue.Create(array.Count), $"must have at most {maxItems} items"));
                }
                if (schema.Long("minItems") is { } minItems && array.Count < minItems)
                {
                    errors.Add(new SchemaError(SchemaErrorType.Invalid, path, JsonValue.Create(array.Count), $"{at} in body should have at least {minItems} items"));
                }
                if (schema["items"] is JsonObject items)
                {
                    for (var i = 0; i < array.Count; i++)
                    {
                        Validate(array[i], items, $"{path}[{i}]", errors);
                    }
                }
                break;
            case JsonValue v when v.GetValueKind() == JsonValueKind.String:
                var s = v.GetValue<string>();
                if (schema.Long("maxLength") is { } maxLength && s.Length > maxLength)
                {
                    errors.Add(new SchemaError(SchemaErrorType.TooLong, path, value.DeepClone(), $"may not be longer than {maxLength}"));
                }
                if (schema.Long("minLength") is { } minLength && s.Length < minLength)
                {
                    errors.Add(new SchemaError(SchemaErrorType.Invalid, path, value.DeepClone(), $"{at} in body should be at least {minLength} chars long"));
                }
                if (schema.Str("pattern") is { } pattern && !Regex.IsMatch(s, pattern, RegexOptions.None, TimeSpan.FromSeconds(1)))
                {
                    errors.Add(new SchemaError(SchemaErrorType.Invalid, path, value.DeepClone(), $"{at} in body should match '{pattern}'"));
                }
                break;
            case JsonValue v when v.GetValueKind() == JsonValueKind.Number:
                var d = ToDouble(v);
                if (schema["minimum"] is { } min)
                {
                    var exclusive = schema.Bool("exclusiveMinimum") == true;
                    var bound = ToDouble(min);
                    if (exclusive ? d <= bound : d < bound)
                    {
                        errors.Add(new SchemaError(SchemaErrorType.Invalid, path, value.DeepClone(), $"{at} in body should be greater than {(exclusive ? string.Empty : "or equal to ")}{Number(min)}"));
                    }
                }
                if (schema["maximum"] is { } max)
                {
                    var exclusive = schema.Bool("exclusiveMaximum") == true;
                    var bound = ToDouble(max);
                    if (exclusive ? d >= bound : d > bound)
                    {
                        errors.Add(new SchemaError(SchemaErrorType.Invalid, path, value.DeepClone(), $"{at} in body should be less than {(exclusive ? string.Empty : "or equal to ")}{Number(max)}"));
                    }
                }
                break;
        }
    }

    private static string Number(JsonNode n) => n.ToJsonString(JsonLimits.Writer);

    private static string TypeOf(JsonNode value) => value switch
    {
        JsonObject => "object",
        JsonArray => "array",
        JsonValue v => v.GetValueKind() switch
        {
            JsonValueKind.String => "string",
            JsonValueKind.True or JsonValueKind.False => "boolean",
            JsonValueKind.Number => IsInteger(v) ? "integer" : "number",
            _ => "null",
        },
        _ => "null",
    };

    private static bool IsInteger(JsonValue v) =>
        v.TryGetValue<long>(out _) || v.TryGetValue<int>(out _) || (v.TryGetValue<double>(out var d) && Math.Abs(d % 1) < double.Epsilon && !v.ToJsonString(JsonLimits.Writer).Contains('.', StringComparison.Ordinal));

    private static string? Str(this JsonObject o, string name) => o[name] is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : null;

    private static bool? Bool(this JsonObject o, string name) => o[name] is JsonValue v && v.GetValueKind() is JsonValueKind.True or JsonValueKind.False ? v.GetValue<bool>() : null;

    private static long? Long(this JsonObject o, string name) =>
        o[name] is JsonValue v && v.GetValueKind() == JsonValueKind.Number ? (long)ToDouble(v) : null;

    /// <summary>A JSON number as a double, whatever CLR type the node holds (parsed nodes hold JSON, built ones long or int).</summary>
    private static double ToDouble(JsonNode n) =>
        double.Parse(n.ToJsonString(JsonLimits.Writer), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture);

}
