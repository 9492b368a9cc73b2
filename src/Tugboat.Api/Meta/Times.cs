using System.Globalization;
using System.Text.Json.Nodes;

namespace Tugboat.Api.Meta;

/// <summary>Timestamps as the Kubernetes API writes them: metav1.Time (RFC 3339, seconds, UTC) and metav1.MicroTime.</summary>
public static class Times
{
    public static string Format(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    public static string FormatMicro(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture);

    /// <summary>A timestamp field's value, or null when absent or not a time.</summary>
    public static DateTimeOffset? Parse(JsonNode? node) =>
        node is JsonValue v && v.TryGetValue<string>(out var s) && DateTimeOffset.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t) ? t : null;
}
