using System.Text.Json.Nodes;
using Tugboat.Api.Meta;
using Tugboat.Api.Serialization;

namespace Tugboat.Controllers.Runtime;

/// <summary>Owner references, selectors and labels: what every controller reads off the objects it manages.</summary>
public static class Owners
{
    /// <summary>
    /// An owner reference to <paramref name="owner"/>: the controller's own (controller and blockOwnerDeletion), or with
    /// <paramref name="controller"/> false a plain one (an owner that does not control, as a StatefulSet owns its claims).
    /// </summary>
    public static JsonObject Reference(JsonObject owner, string apiVersion, string kind, bool controller = true)
    {
        var reference = new JsonObject
        {
            ["apiVersion"] = apiVersion,
            ["kind"] = kind,
            ["name"] = owner["metadata"]!["name"]!.DeepClone(),
            ["uid"] = owner["metadata"]!["uid"]!.DeepClone(),
        };
        if (controller)
        {
            reference["controller"] = true;
            reference["blockOwnerDeletion"] = true;
        }
        return reference;
    }

    public static JsonObject? ControllerOf(JsonObject obj) =>
        obj["metadata"]?["ownerReferences"]?.AsArray().OfType<JsonObject>().FirstOrDefault(r => r["controller"]?.GetValue<bool>() == true);

    public static string? ControllerUid(JsonObject obj) => ControllerOf(obj)?["uid"]?.GetValue<string>();

    public static LabelSelector Selector(JsonObject owner)
    {
        try
        {
            return LabelSelector.FromJson(owner["spec"]?["selector"]);
        }
        catch (FormatException)
        {
            return LabelSelector.Everything;
        }
    }

    public static Dictionary<string, string> Labels(JsonObject? obj) => LabelsOf(obj?["metadata"]?["labels"] as JsonObject);

    public static Dictionary<string, string> LabelsOf(JsonObject? labels) =>
        labels?.ToDictionary(kv => kv.Key, kv => kv.Value?.GetValue<string>() ?? string.Empty, StringComparer.Ordinal) ?? [];

    public static string Namespace(JsonObject obj) => obj["metadata"]?["namespace"]?.GetValue<string>() ?? string.Empty;

    public static string Name(JsonObject obj) => obj["metadata"]?["name"]?.GetValue<string>() ?? string.Empty;

    public static bool Deleting(JsonObject obj) => obj["metadata"]?["deletionTimestamp"] is not null;

    /// <summary>Whether a pod's Ready condition is True.</summary>
    public static bool IsReady(JsonObject pod) => HasTrueCondition(pod["status"] as JsonObject, "Ready");

    /// <summary>
    /// Whether a pod is available: Ready, and for at least <paramref name="minReadySeconds"/> (upstream's
    /// IsPodAvailable, timed from the Ready condition's last transition).
    /// </summary>
    public static bool IsAvailable(JsonObject pod, long minReadySeconds, DateTimeOffset now) =>
        ReadySince(pod) is { } since && (minReadySeconds == 0 || now - since >= TimeSpan.FromSeconds(minReadySeconds));

    /// <summary>
    /// How long until the first of <paramref name="pods"/> that is Ready but not yet available becomes available, or null
    /// when none is waiting: controllers with minReadySeconds look again then, as no event will tell them.
    /// </summary>
    public static TimeSpan? UntilNextAvailable(IEnumerable<JsonObject> pods, long minReadySeconds, DateTimeOffset now)
    {
        TimeSpan? next = null;
        if (minReadySeconds <= 0)
        {
            return next;
        }
        foreach (var pod in pods)
        {
            if (ReadySince(pod) is { } since && since + TimeSpan.FromSeconds(minReadySeconds) - now is { Ticks: > 0 } wait && (next is null || wait < next))
            {
                next = wait;
            }
        }
        return next;
    }

    /// <summary>When a pod's Ready condition last turned True (the Unix epoch when it does not say), or null when it is not Ready.</summary>
    public static DateTimeOffset? ReadySince(JsonObject pod)
    {
        var ready = pod["status"]?["conditions"]?.AsArray().OfType<JsonObject>().FirstOrDefault(c => c["type"]?.GetValue<string>() == "Ready" && c["status"]?.GetValue<string>() == "True");
        if (ready is null)
        {
            return null;
        }
        return System.DateTimeOffset.TryParse(ready["lastTransitionTime"]?.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out var since)
            ? since
            : DateTimeOffset.UnixEpoch;
    }

    /// <summary>Whether a status has a condition of <paramref name="type"/> with status True.</summary>
    public static bool HasTrueCondition(JsonObject? status, string type) =>
        status?["conditions"]?.AsArray().OfType<JsonObject>().Any(c => c["type"]?.GetValue<string>() == type && c["status"]?.GetValue<string>() == "True") == true;

    /// <summary>The object at <paramref name="name"/>, created when missing.</summary>
    public static JsonObject Ensure(this JsonObject node, string name)
    {
        if (node[name] is JsonObject o)
        {
            return o;
        }
        o = new JsonObject();
        node[name] = o;
        return o;
    }

    public static long Long(JsonNode? node, long fallback = 0) =>
        node is JsonValue v && long.TryParse(v.ToJsonString(JsonLimits.Writer), System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var l) ? l : fallback;
}
