using System.Text.Json.Nodes;
using Tugboat.Api.Meta;
using Tugboat.Agent.Runtime;

namespace Tugboat.Agent.Kubelet;

/// <summary>What the agent knows of one container of a pod, rendered into the pod's container statuses.</summary>
internal sealed class ContainerRecord(string name, JsonObject spec, bool init)
{
    public string Name { get; } = name;

    public JsonObject Spec { get; set; } = spec;

    public bool Init { get; } = init;

    /// <summary>The runtime's ID of the current attempt, or null before the first start.</summary>
    public string? Id { get; set; }

    public int RestartCount { get; set; }

    /// <summary>The container's state object (running, waiting or terminated).</summary>
    public JsonObject State { get; set; } = Waiting("ContainerCreating", null);

    public JsonObject? LastState { get; set; }

    public bool Ready { get; set; }

    public bool Started { get; set; }

    /// <summary>True once the container ended and will not be started again (its restart policy says so, or the pod is being deleted).</summary>
    public bool Done { get; set; }

    public ContainerExit? LastExit { get; set; }

    public bool Running => State.ContainsKey("running");

    public bool Succeeded => LastExit is { ExitCode: 0 } && State.ContainsKey("terminated");

    public string Image => Spec["image"]?.GetValue<string>() ?? string.Empty;

    public static JsonObject Waiting(string reason, string? message)
    {
        var w = new JsonObject { ["reason"] = reason };
        if (message is not null)
        {
            w["message"] = message;
        }
        return new JsonObject { ["waiting"] = w };
    }

    public static JsonObject RunningState(DateTimeOffset startedAt) => new() { ["running"] = new JsonObject { ["startedAt"] = Times.Format(startedAt) } };

    public static JsonObject Terminated(ContainerExit exit, DateTimeOffset startedAt, string? containerId)
    {
        var t = new JsonObject
        {
            ["exitCode"] = exit.ExitCode,
            ["reason"] = exit.Reason,
            ["startedAt"] = Times.Format(startedAt),
            ["finishedAt"] = Times.Format(exit.FinishedAt),
        };
        if (exit.Message is not null)
        {
            t["message"] = exit.Message;
        }
        if (containerId is not null)
        {
            t["containerID"] = containerId;
        }
        return new JsonObject { ["terminated"] = t };
    }

    public JsonObject Status(string runtimeName) 
    {
        var status = new JsonObject
        {
            ["name"] = Name,
            ["state"] = State.DeepClone(),
            ["lastState"] = LastState?.DeepClone() ?? new JsonObject(),
            ["ready"] = Ready,
            ["restartCount"] = RestartCount,
            ["image"] = Image,
            ["imageID"] = Image.Length > 0 ? $"{runtimeName}://{Image}" : string.Empty,
        };
        if (Id is not null)
        {
            status["containerID"] = $"{runtimeName}://{Id}";
        }
        status["started"] = Started;
        return status;
    }
}
