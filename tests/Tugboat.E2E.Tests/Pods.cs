using System.Text.Json.Nodes;

namespace Tugboat.E2E.Tests;

/// <summary>Reading a pod's status as the tests check it.</summary>
public static class Pods
{
    public static bool IsReady(JsonObject pod) =>
        pod["status"]?["conditions"]?.AsArray().Any(c => c?["type"]?.GetValue<string>() == "Ready" && c["status"]?.GetValue<string>() == "True") == true;

    /// <summary>The status of one (init) container, or null.</summary>
    public static JsonObject? Container(JsonObject pod, string name, bool init = false) =>
        pod["status"]?[init ? "initContainerStatuses" : "containerStatuses"]?.AsArray().OfType<JsonObject>().FirstOrDefault(c => c["name"]?.GetValue<string>() == name);
}
