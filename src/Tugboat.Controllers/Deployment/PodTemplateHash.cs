using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Tugboat.Api.Serialization;

namespace Tugboat.Controllers.Deployment;

/// <summary>
/// The <c>pod-template-hash</c> label: FNV-1a (32-bit) of the pod template, its decimal digits mapped to upstream's safe
/// alphabet (no vowels, no look-alike characters), so that names like <c>web-5d8f9c7b6</c> never spell words.
/// </summary>
public static class PodTemplateHash
{
    private const string Alphanums = "bcdfghjklmnpqrstvwxz2456789";

    public static string Of(JsonNode? template, long collisionCount = 0)
    {
        uint hash = 2166136261;
        foreach (var b in Encoding.UTF8.GetBytes((template?.ToJsonString(JsonLimits.Writer) ?? string.Empty) + (collisionCount > 0 ? collisionCount.ToString(CultureInfo.InvariantCulture) : string.Empty)))
        {
            hash ^= b;
            hash *= 16777619;
        }
        var digits = hash.ToString(CultureInfo.InvariantCulture);
        return string.Concat(digits.Select(c => Alphanums[c % Alphanums.Length]));
    }
}
