using System.Globalization;
using System.Text.Json.Nodes;
using Tugboat.Api.Meta;

namespace Tugboat.ApiServer.Registry;

/// <summary>Cell formatting shared by the table printers, following upstream's printers.</summary>
internal static class Cells
{
    public const string None = "<none>";

    public static string Age(string? timestamp, DateTimeOffset now)
    {
        if (timestamp is null || !DateTimeOffset.TryParse(timestamp, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t))
        {
            return "<unknown>";
        }
        return HumanDuration(now - t);
    }

    /// <summary>apimachinery's duration.HumanDuration.</summary>
    public static string HumanDuration(TimeSpan d)
    {
        var seconds = (long)Math.Floor(d.TotalSeconds);
        if (seconds < -1)
        {
            return "<invalid>";
        }
        if (seconds < 0)
        {
            return "0s";
        }
        if (seconds < 60 * 2)
        {
            return $"{seconds}s";
        }
        var minutes = (long)d.TotalMinutes;
        if (minutes < 10)
        {
            var s = seconds % 60;
            return s == 0 ? $"{minutes}m" : $"{minutes}m{s}s";
        }
        if (minutes < 60 * 3)
        {
            return $"{minutes}m";
        }
        var hours = (long)d.TotalHours;
        if (hours < 8)
        {
            var m = minutes % 60;
            return m == 0 ? $"{hours}h" : $"{hours}h{m}m";
        }
        if (hours < 48)
        {
            return $"{hours}h";
        }
        if (hours < 24 * 8)
        {
            var h = hours % 24;
            return h == 0 ? $"{hours / 24}d" : $"{hours / 24}d{h}h";
        }
        if (hours < 24 * 365 * 2)
        {
            return $"{hours / 24}d";
        }
        if (hours < 24 * 365 * 8)
        {
            var dy = hours / 24 % 365;
            return dy == 0 ? $"{hours / 24 / 365}y" : $"{hours / 24 / 365}y{dy}d";
        }
        return $"{hours / 24 / 365}y";
    }

    public static string Containers(JsonNode? podSpec) =>
        Join(podSpec.Arr("containers").Objects().Select(c => c.Str("name") ?? string.Empty));

    public static string Images(JsonNode? podSpec) =>
        Join(podSpec.Arr("containers").Objects().Select(c => c.Str("image") ?? string.Empty));

    public static string Selector(JsonNode? selector)
    {
        var text = LabelSelector.FromJson(selector).ToString();
        return text.Length == 0 ? None : text;
    }

    public static string Join(IEnumerable<string> values)
    {
        var s = string.Join(",", values);
        return s.Length == 0 ? None : s;
    }

    public static string MapText(JsonObject? map)
    {
        if (map is null || map.Count == 0)
        {
            return None;
        }
        return string.Join(",", Json.StringMap(map).OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Key + "=" + kv.Value));
    }

    public static long Int(JsonNode? node, params string[] path) => node.Long(path) ?? 0;
}
