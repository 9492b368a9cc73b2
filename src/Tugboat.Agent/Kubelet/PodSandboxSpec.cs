using System.Text.Json.Nodes;
using Tugboat.Agent.Runtime;
using Tugboat.Client;

namespace Tugboat.Agent.Kubelet;

/// <summary>A pod's sandbox as runtimes that make their own see it (the kubelet's generatePodSandboxConfig), and its RuntimeClass handler.</summary>
internal static class PodSandboxSpec
{
    /// <summary>The pod's sandbox for runtimes that make their own (host name, namespaces, host ports, log directory).</summary>
    public static SandboxConfig For(JsonObject pod, NodeAgent agent, string runtimeHandler)
    {
        var spec = pod["spec"];
        var (uid, name, ns) = (pod["metadata"]!["uid"]!.GetValue<string>(), pod["metadata"]!["name"]!.GetValue<string>(), pod["metadata"]!["namespace"]!.GetValue<string>());
        var hostNetwork = spec?["hostNetwork"]?.GetValue<bool>() == true;
        var ports = new List<(string, int, int, string)>();
        foreach (var c in spec?["containers"]?.AsArray().OfType<JsonObject>() ?? [])
        {
            foreach (var port in c["ports"]?.AsArray().OfType<JsonObject>() ?? [])
            {
                if (port["hostPort"]?.GetValue<int>() is > 0 and var hostPort)
                {
                    ports.Add((port["protocol"]?.GetValue<string>() ?? "TCP", port["containerPort"]?.GetValue<int>() ?? hostPort, hostPort, port["hostIP"]?.GetValue<string>() ?? string.Empty));
                }
            }
        }
        return new SandboxConfig
        {
            PodUid = uid,
            PodName = name,
            PodNamespace = ns,
            Hostname = hostNetwork ? null : PodEnvironment.Hostname(pod),
            HostNetwork = hostNetwork,
            HostPid = spec?["hostPID"]?.GetValue<bool>() == true,
            HostIpc = spec?["hostIPC"]?.GetValue<bool>() == true,
            ShareProcessNamespace = spec?["shareProcessNamespace"]?.GetValue<bool>() == true,
            PortMappings = ports,
            LogDirectory = Path.GetDirectoryName(Path.GetDirectoryName(agent.LogPath(ns, name, uid, "c", 0))!)!,
            RuntimeHandler = runtimeHandler,
        };
    }

    /// <summary>The handler of the pod's RuntimeClass (empty without one), as the kubelet's runtime class manager looks it up.</summary>
    public static async Task<string> RuntimeHandlerAsync(JsonObject pod, ApiClient client, CancellationToken ct)
    {
        if (pod["spec"]?["runtimeClassName"]?.GetValue<string>() is not { Length: > 0 } className)
        {
            return string.Empty;
        }
        try
        {
            var runtimeClass = await client.GetAsync($"/apis/node.k8s.io/v1/runtimeclasses/{className}", ct).ConfigureAwait(false);
            return runtimeClass["handler"]?.GetValue<string>() ?? string.Empty;
        }
        catch (ApiError e) when (e.Code == 404)
        {
            throw new InvalidOperationException($"RuntimeClass \"{className}\" not found");
        }
    }
}
