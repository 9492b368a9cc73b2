using System.Text.Json.Nodes;

namespace Tugboat.Api.Scheduling;

/// <summary>Taints and tolerations as upstream's component helpers match them (k8s.io/component-helpers/scheduling/corev1).</summary>
public static class Tolerations
{
    /// <summary>Upstream's ToleratesTaint: an empty effect tolerates every effect, an empty key with Exists every taint.</summary>
    public static bool Tolerates(JsonObject toleration, string key, string? value, string effect)
    {
        var tEffect = toleration["effect"]?.GetValue<string>();
        if (!string.IsNullOrEmpty(tEffect) && tEffect != effect)
        {
            return false;
        }
        var tKey = toleration["key"]?.GetValue<string>();
        if (!string.IsNullOrEmpty(tKey) && tKey != key)
        {
            return false;
        }
        return (toleration["operator"]?.GetValue<string>() ?? "Equal") switch
        {
            "Exists" => true,
            "Equal" => !string.IsNullOrEmpty(tKey) && (toleration["value"]?.GetValue<string>() ?? string.Empty) == (value ?? string.Empty),
            _ => false,
        };
    }
}
