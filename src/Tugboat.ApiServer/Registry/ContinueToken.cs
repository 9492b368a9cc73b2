using System.Text;
using System.Text.Json.Nodes;
using Tugboat.Api.Serialization;

namespace Tugboat.ApiServer.Registry;

/// <summary>Upstream's continue token: base64 of <c>{"v":"meta.k8s.io/v1","rv":N,"start":"key-after-prefix\u0000"}</c>.</summary>
internal static class ContinueToken
{
    public static string Encode(long revision, string prefix, string lastKey)
    {
        var obj = new JsonObject { ["v"] = "meta.k8s.io/v1", ["rv"] = revision, ["start"] = lastKey[prefix.Length..] + "\u0000" };
        return Convert.ToBase64String(Encoding.UTF8.GetBytes(obj.ToJsonString(JsonLimits.Writer))).TrimEnd('=').Replace('+', '-').Replace('/', '_');
    }

    /// <summary>Returns the revision and the key to start after; throws BadRequest for malformed tokens.</summary>
    public static (long Revision, string StartAfter) Decode(string token, string prefix)
    {
        try
        {
            var b64 = token.Replace('-', '+').Replace('_', '/');
            b64 = b64.PadRight(b64.Length + ((4 - (b64.Length % 4)) % 4), '=');
            var obj = JsonNode.Parse(Encoding.UTF8.GetString(Convert.FromBase64String(b64)))!.AsObject();
            if (obj["v"]?.GetValue<string>() != "meta.k8s.io/v1")
            {
                throw new FormatException();
            }
            var rv = obj["rv"]!.GetValue<long>();
            var start = obj["start"]!.GetValue<string>();
            if (start.Contains("..", StringComparison.Ordinal) || start.StartsWith('/'))
            {
                throw new FormatException();
            }
            return (rv, prefix + start.TrimEnd('\u0000'));
        }
        catch (Exception ex) when (ex is FormatException or InvalidOperationException or System.Text.Json.JsonException or NullReferenceException or KeyNotFoundException)
        {
            throw ApiException.BadRequest("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)");
        }
    }
}
