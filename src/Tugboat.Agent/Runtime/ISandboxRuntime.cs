namespace Tugboat.Agent.Runtime;

/// <summary>
/// A runtime that owns pod sandboxes, as the CRI's does: it creates the pod's network (through CNI), host name and
/// shared namespaces itself, and its containers join them. The agent then prepares volumes and files only.
/// </summary>
public interface ISandboxRuntime
{
    /// <summary>Creates the pod's sandbox, or finds the one it already has; returns the pod's IP address (empty for host-network pods, which have the node's).</summary>
    /// <exception cref="InvalidOperationException">The sandbox could not be created; the message says why.</exception>
    Task<string> RunSandboxAsync(SandboxConfig config, CancellationToken ct);

    /// <summary>Stops and removes the pod's sandbox and whatever of it is left; nothing happens when it has none.</summary>
    Task RemoveSandboxAsync(string podUid, CancellationToken ct);
}

/// <summary>What a pod's sandbox is made of.</summary>
public sealed record SandboxConfig
{
    public required string PodUid { get; init; }

    public required string PodName { get; init; }

    public required string PodNamespace { get; init; }

    /// <summary>The pod's host name, or null for host-network pods (which keep the node's).</summary>
    public string? Hostname { get; init; }

    public bool HostNetwork { get; init; }

    public bool HostPid { get; init; }

    public bool HostIpc { get; init; }

    /// <summary>spec.shareProcessNamespace: containers see each other's processes.</summary>
    public bool ShareProcessNamespace { get; init; }

    /// <summary>Container ports with a hostPort: (protocol, container port, host port, host IP).</summary>
    public IReadOnlyList<(string Protocol, int ContainerPort, int HostPort, string HostIp)> PortMappings { get; init; } = [];

    /// <summary>Where the pod's container logs go (DATA/…/pods/NAMESPACE_NAME_UID).</summary>
    public required string LogDirectory { get; init; }

    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    /// <summary>The RuntimeClass handler, or empty for the runtime's default.</summary>
    public string RuntimeHandler { get; init; } = string.Empty;
}
