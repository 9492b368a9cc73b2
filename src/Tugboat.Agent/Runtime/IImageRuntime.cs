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

/// <summary>A runtime that runs containers from images it pulls and stores (the CRI's image service).</summary>
public interface IImageRuntime
{
    /// <summary>
    /// Makes <paramref name="image"/> present as <paramref name="pullPolicy"/> asks (Always, IfNotPresent, Never), with
    /// the registry credentials of the pod's imagePullSecrets; says whether it pulled and how big the image is.
    /// </summary>
    /// <exception cref="ImagePullException">The image is not there and could not (or may not) be pulled.</exception>
    Task<ImagePullResult> EnsureImageAsync(string image, string pullPolicy, IReadOnlyList<RegistryCredential> credentials, CancellationToken ct);

    /// <summary>The user an image runs as: its numeric ID when it has one, else its name (empty: root by default); null when the image is not present.</summary>
    Task<(long? Uid, string Username)?> ImageUserAsync(string image, CancellationToken ct);

    /// <summary>The images the runtime holds, as node status lists them (names, size in bytes).</summary>
    Task<IReadOnlyList<(IReadOnlyList<string> Names, long SizeBytes)>> ListImagesAsync(CancellationToken ct);
}

/// <param name="Pulled">False when the image was already present and not pulled.</param>
public sealed record ImagePullResult(bool Pulled, TimeSpan Took, long SizeBytes);

/// <summary>A registry login from a pod's imagePullSecrets (dockerconfigjson or dockercfg).</summary>
public sealed record RegistryCredential(string Registry, string? Username, string? Password, string? Auth, string? IdentityToken);

/// <summary>An image that is not there and could not be pulled; <see cref="Reason"/> is upstream's (ErrImagePull, ErrImageNeverPull, InvalidImageName).</summary>
public sealed class ImagePullException(string reason, string message) : Exception(message)
{
    public string Reason { get; } = reason;
}

/// <summary>
/// A runtime that runs a command in a container and collects its output itself (the CRI's ExecSync): exec probes and
/// lifecycle hooks.
/// </summary>
public interface IExecSyncRuntime
{
    /// <summary>The command's exit code and output (stdout, then stderr); a command over <paramref name="timeout"/> is ended.</summary>
    /// <exception cref="ContainerStartException">The command could not be run.</exception>
    Task<(int ExitCode, string Output)> ExecSyncAsync(string id, IReadOnlyList<string> command, TimeSpan timeout, CancellationToken ct);
}

/// <summary>
/// A runtime that serves exec and attach streams itself (the CRI's streaming server): the agent asks for a URL and joins
/// the client's stream to it.
/// </summary>
public interface IStreamingRuntime
{
    /// <summary>A WebSocket URL (channel protocol v4) running <paramref name="command"/> in the container.</summary>
    Task<Uri> ExecUrlAsync(string id, IReadOnlyList<string> command, bool tty, bool stdin, bool stdout, bool stderr, CancellationToken ct);

    /// <summary>A WebSocket URL (channel protocol v4) attached to the container's own streams.</summary>
    Task<Uri> AttachUrlAsync(string id, bool tty, bool stdin, bool stdout, bool stderr, CancellationToken ct);
}
