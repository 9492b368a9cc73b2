using System.Text.Json.Nodes;

namespace Tugboat.ApiServer.Registry.Strategies;

/// <summary>
/// autoscaling/v1 HorizontalPodAutoscaler over autoscaling/v2 storage: v1's targetCPUUtilizationPercentage is v2's
/// CPU utilization metric; v2 metrics v1 cannot express are not shown in v1.
/// </summary>
internal sealed class HorizontalPodAutoscalerV1Converter : IVersionConverter
{
    public JsonObject ToStored(JsonObject served)
    {
        var stored = (JsonObject)served.DeepClone();
        stored["apiVersion"] = "autoscaling/v2";
        if (stored["spec"] is JsonObject spec)
        {
            var cpu = spec.Long("targetCPUUtilizationPercentage");
            spec.Remove("targetCPUUtilizationPercentage");
            if (cpu is not null)
            {
                spec["metrics"] = new JsonArray(new JsonObject
                {
                    ["type"] = "Resource",
                    ["resource"] = new JsonObject { ["name"] = "cpu", ["target"] = new JsonObject { ["type"] = "Utilization", ["averageUtilization"] = cpu.Value } },
                });
            }
        }
        if (stored["status"] is JsonObject status && status.Long("currentCPUUtilizationPercentage") is { } current)
        {
            status.Remove("currentCPUUtilizationPercentage");
            status["currentMetrics"] = new JsonArray(new JsonObject
            {
                ["type"] = "Resource",
                ["resource"] = new JsonObject { ["name"] = "cpu", ["current"] = new JsonObject { ["averageUtilization"] = current } },
            });
        }
        return stored;
    }

    public JsonObject FromStored(JsonObject stored)
    {
        var served = (JsonObject)stored.DeepClone();
        served["apiVersion"] = "autoscaling/v1";
        if (served["spec"] is JsonObject spec)
        {
            var cpu = CpuUtilization(spec.Arr("metrics"), "target");
            spec.Remove("metrics");
            spec.Remove("behavior");
            if (cpu is not null)
            {
                spec["targetCPUUtilizationPercentage"] = cpu.Value;
            }
        }
        if (served["status"] is JsonObject status)
        {
            var current = CpuUtilization(status.Arr("currentMetrics"), "current");
            status.Remove("currentMetrics");
            status.Remove("conditions");
            if (current is not null)
            {
                status["currentCPUUtilizationPercentage"] = current.Value;
            }
        }
        return served;
    }

    private static long? CpuUtilization(JsonArray? metrics, string field) =>
        metrics.Objects().FirstOrDefault(m => m.Str("type") == "Resource" && m.Str("resource", "name") == "cpu")?.Long("resource", field, "averageUtilization");
}
