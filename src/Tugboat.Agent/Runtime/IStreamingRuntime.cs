namespace Tugboat.Agent.Runtime;

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
