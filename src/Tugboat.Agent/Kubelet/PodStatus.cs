using System.Text.Json.Nodes;
using Tugboat.Api.Meta;

namespace Tugboat.Agent.Kubelet;

/// <summary>A pod's status from what the agent observed: phase, conditions, container statuses, addresses (upstream's rules).</summary>
internal static class PodStatus
{
    private static readonly string[] Owned = ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady"];

    public static JsonObject Build(JsonObject pod, IReadOnlyList<ContainerRecord> init, IReadOnlyList<ContainerRecord> app, string runtime,
        string? hostIp, string? podIp, bool sandboxReady, DateTimeOffset startTime, string? phaseOverride, (string Reason, string Message)? failure = null)
    {
        var existing = pod["status"]?["conditions"]?.AsArray().OfType<JsonObject>().ToList() ?? [];
        var now = Times.Format(DateTimeOffset.UtcNow);
        var initialized = init.All(r => r.Succeeded);
        var phase = phaseOverride ?? Phase(pod, init, app, initialized);
        var terminal = phase is "Succeeded" or "Failed";
        var unready = app.Where(r => !r.Ready).Select(r => r.Name).ToList();
        var incomplete = init.Where(r => !r.Succeeded).Select(r => r.Name).ToList();

        JsonObject Condition(string type, bool status, string? reason, string? message)
        {
            var previous = existing.FirstOrDefault(c => c["type"]?.GetValue<string>() == type);
            var value = status ? "True" : "False";
            var c = new JsonObject
            {
                ["type"] = type,
                ["status"] = value,
                ["lastProbeTime"] = null,
                ["lastTransitionTime"] = previous?["status"]?.GetValue<string>() == value ? previous["lastTransitionTime"]?.DeepClone() : now,
            };
            if (reason is not null)
            {
                c["reason"] = reason;
            }
            if (message is not null)
            {
                c["message"] = message;
            }
            return c;
        }

        var conditions = new JsonArray
        {
            Condition("PodReadyToStartContainers", sandboxReady, null, null),
            Condition("Initialized", initialized, initialized ? null : "ContainersNotInitialized", initialized ? null : $"containers with incomplete status: [{string.Join(' ', incomplete)}]"),
            terminal
                ? Condition("Ready", false, "PodCompleted", null)
                : Condition("Ready", unready.Count == 0, unready.Count == 0 ? null : "ContainersNotReady", unready.Count == 0 ? null : $"containers with unready status: [{string.Join(' ', unready)}]"),
            terminal
                ? Condition("ContainersReady", false, "PodCompleted", null)
                : Condition("ContainersReady", unready.Count == 0, unready.Count == 0 ? null : "ContainersNotReady", unready.Count == 0 ? null : $"containers with unready status: [{string.Join(' ', unready)}]"),
        };
        foreach (var other in existing.Where(c => !Owned.Contains(c["type"]?.GetValue<string>())))
        {
            conditions.Add(other.DeepClone());
        }
        var status = new JsonObject
        {
            ["phase"] = phase,
            ["conditions"] = conditions,
            ["hostIP"] = hostIp,
            ["hostIPs"] = hostIp is null ? null : new JsonArray(new JsonObject { ["ip"] = hostIp }),
            ["startTime"] = Times.Format(startTime),
        };
        if (failure is { } why)
        {
            status["reason"] = why.Reason;
            status["message"] = why.Message;
        }
        if (podIp is not null)
        {
            status["podIP"] = podIp;
            status["podIPs"] = new JsonArray(new JsonObject { ["ip"] = podIp });
        }
        if (init.Count > 0)
        {
            status["initContainerStatuses"] = new JsonArray(init.Select(r => (JsonNode?)r.Status(runtime)).ToArray());
        }
        status["containerStatuses"] = new JsonArray(app.Select(r => (JsonNode?)r.Status(runtime)).ToArray());
        if (pod["status"]?["qosClass"] is { } qos)
        {
            status["qosClass"] = qos.DeepClone();
        }
        return status;
    }

    /// <summary>Upstream's getPhase: Pending until initialized and started, Running while any container runs or will restart, then Succeeded or Failed.</summary>
    private static string Phase(JsonObject pod, IReadOnlyList<ContainerRecord> init, IReadOnlyList<ContainerRecord> app, bool initialized)
    {
        var policy = pod["spec"]?["restartPolicy"]?.GetValue<string>() ?? "Always";
        if (!initialized)
        {
            var failedInit = init.Any(r => r.Done && r.LastExit is { ExitCode: not 0 });
            return failedInit && policy == "Never" ? "Failed" : "Pending";
        }
        int pending = 0, running = 0, stopped = 0, succeeded = 0;
        foreach (var r in app)
        {
            if (r.Running)
            {
                running++;
            }
            else if (r.State.ContainsKey("terminated"))
            {
                stopped++;
                if (r.LastExit is { ExitCode: 0 })
                {
                    succeeded++;
                }
            }
            else if (r.LastState is not null)
            {
                stopped++;
            }
            else
            {
                pending++;
            }
        }
        if (pending > 0)
        {
            return "Pending";
        }
        if (running > 0)
        {
            return "Running";
        }
        if (stopped > 0)
        {
            if (app.Any(r => !r.Done))
            {
                return "Running";
            }
            if (stopped == succeeded)
            {
                return "Succeeded";
            }
            return "Failed";
        }
        return "Pending";
    }
}
