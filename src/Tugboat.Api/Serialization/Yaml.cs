using System.Globalization;
using System.Text.Json.Nodes;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Tugboat.Api.Serialization;

/// <summary>YAML to JSON conversion with YAML 1.1-style scalar typing as sigs.k8s.io/yaml does (quoted scalars stay strings).</summary>
public static class Yaml
{
    /// <summary>Parses a single YAML document into JSON; throws <see cref="FormatException"/> for malformed input.</summary>
    public static JsonNode? ToJson(string yaml)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException ex)
        {
            throw new FormatException($"error converting YAML to JSON: yaml: line {ex.Start.Line}: {ex.Message}", ex);
        }
        catch (InvalidOperationException ex)
        {
            throw new FormatException($"error converting YAML to JSON: {ex.Message}", ex);
        }
        if (stream.Documents.Count == 0)
        {
            return null;
        }
        return Convert(stream.Documents[0].RootNode);
    }

    private static JsonNode? Convert(YamlNode node) => node switch
    {
        YamlMappingNode map => ConvertMap(map),
        YamlSequenceNode seq => new JsonArray(seq.Children.Select(Convert).ToArray()),
        YamlScalarNode scalar => ConvertScalar(scalar),
        _ => throw new FormatException("error converting YAML to JSON: unsupported YAML node"),
    };

    private static JsonObject ConvertMap(YamlMappingNode map)
    {
        var obj = new JsonObject();
        foreach (var (k, v) in map.Children)
        {
            var key = k is YamlScalarNode s ? s.Value ?? string.Empty : throw new FormatException("error converting YAML to JSON: non-scalar map key");
            obj[key] = Convert(v);
        }
        return obj;
    }

    private static JsonNode? ConvertScalar(YamlScalarNode scalar)
    {
        var value = scalar.Value ?? string.Empty;
        if (scalar.Style is ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted or ScalarStyle.Literal or ScalarStyle.Folded)
        {
            return JsonValue.Create(value);
        }
        switch (value)
        {
            case "" or "~" or "null" or "Null" or "NULL":
                return null;
            case "true" or "True" or "TRUE":
                return JsonValue.Create(true);
            case "false" or "False" or "FALSE":
                return JsonValue.Create(false);
        }
        if (long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l))
        {
            return JsonValue.Create(l);
        }
        if (value.Length > 2 && value.StartsWith("0x", StringComparison.Ordinal) && long.TryParse(value[2..], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var hex))
        {
            return JsonValue.Create(hex);
        }
        if ((char.IsDigit(value[0]) || value[0] is '-' or '+' or '.') && double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && !double.IsInfinity(d))
        {
            return JsonValue.Create(d);
        }
        return JsonValue.Create(value);
    }
}
