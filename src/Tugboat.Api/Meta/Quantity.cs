using System.Globalization;
using System.Text.Json.Nodes;
using Tugboat.Api.Serialization;

namespace Tugboat.Api.Meta;

/// <summary>
/// Resource quantities as upstream writes them: a decimal number with an optional binary (Ki, Mi, Gi, Ti, Pi, Ei),
/// decimal (n, u, m, k, M, G, T, P, E) or exponent (e3, E-2) suffix.
/// </summary>
public static class Quantity
{
    /// <summary>Parses a quantity; false for anything upstream would reject.</summary>
    public static bool TryParse(string? text, out decimal value)
    {
        value = 0;
        if (string.IsNullOrEmpty(text))
        {
            return false;
        }
        var end = 0;
        while (end < text.Length && (char.IsAsciiDigit(text[end]) || text[end] is '.' or '+' or '-'))
        {
            end++;
        }
        if (end == 0 || !decimal.TryParse(text.AsSpan(0, end), NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number))
        {
            return false;
        }
        var suffix = text[end..];
        decimal factor;
        switch (suffix)
        {
            case "": factor = 1; break;
            case "Ki": factor = 1L << 10; break;
            case "Mi": factor = 1L << 20; break;
            case "Gi": factor = 1L << 30; break;
            case "Ti": factor = 1L << 40; break;
            case "Pi": factor = 1L << 50; break;
            case "Ei": factor = 1L << 60; break;
            case "n": factor = 0.000000001m; break;
            case "u": factor = 0.000001m; break;
            case "m": factor = 0.001m; break;
            case "k": factor = 1_000m; break;
            case "M": factor = 1_000_000m; break;
            case "G": factor = 1_000_000_000m; break;
            case "T": factor = 1_000_000_000_000m; break;
            case "P": factor = 1_000_000_000_000_000m; break;
            case "E": factor = 1_000_000_000_000_000_000m; break;
            default:
                if (suffix[0] is not ('e' or 'E') || !int.TryParse(suffix.AsSpan(1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var exp) || exp is < -18 or > 18)
                {
                    return false;
                }
                factor = 1;
                for (var i = 0; i < Math.Abs(exp); i++)
                {
                    factor = exp > 0 ? factor * 10 : factor / 10;
                }
                break;
        }
        try
        {
            value = number * factor;
            return true;
        }
        catch (OverflowException)
        {
            return false;
        }
    }

    /// <summary>The quantity in thousandths, rounded up (how upstream compares CPU); 0 when absent or malformed.</summary>
    public static long Milli(JsonNode? node) => TryParse(Text(node), out var v) ? (long)Math.Ceiling(v * 1000) : 0;

    /// <summary>The quantity as a whole number, rounded up (memory, storage, counts); 0 when absent or malformed.</summary>
    public static long Value(JsonNode? node) => TryParse(Text(node), out var v) ? (long)Math.Ceiling(v) : 0;

    private static string? Text(JsonNode? node) => node is JsonValue v
        ? v.TryGetValue<string>(out var s) ? s : v.ToJsonString(JsonLimits.Writer)
        : null;
}
