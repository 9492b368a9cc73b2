namespace Tugboat.Agent.Runtime;

/// <summary>
/// What runs containers for the node agent, shaped like Nomad's task driver: a small core (start, wait, stop, destroy,
/// inspect, recover after an agent restart) with optional abilities (<see cref="IExecRuntime"/>,
/// <see cref="IStatsRuntime"/>) as separate interfaces. Pod sandboxes (network namespaces), volumes and probes belong
/// to the agent; a runtime only starts the processes it is given inside what the agent prepared.
/// </summary>
public interface IContainerRuntime
{
    /// <summary>The scheme of container IDs in pod status (<c>process</c> gives <c>process://ID</c>).</summary>
    string Name { get; }

    /// <summary>The runtime's version as nodeInfo.containerRuntimeVersion reports it.</summary>
    string Version { get; }

    RuntimeCapabilities Capabilities { get; }

    /// <summary>
    /// Starts a container and returns its ID once its process runs. Output goes to <see cref="ContainerConfig.LogPath"/>
    /// in the CRI log format.
    /// </summary>
    /// <exception cref="ContainerStartException">Nothing was left running; the exception says why, with upstream's reason.</exception>
    Task<string> StartAsync(ContainerConfig config, CancellationToken ct);

    /// <summary>Completes when the container's main process has exited (at once if it already has).</summary>
    Task<ContainerExit> WaitAsync(string id, CancellationToken ct);

    /// <summary>
    /// Sends <paramref name="signal"/> to the container's main process and, if it still runs after
    /// <paramref name="timeout"/>, kills every process of the container. Returns once it has exited.
    /// </summary>
    Task<ContainerExit> StopAsync(string id, int signal, TimeSpan timeout, CancellationToken ct);

    /// <summary>Forgets an exited container and removes what the runtime kept for it (not its log).</summary>
    Task DestroyAsync(string id, CancellationToken ct);

    /// <summary>The containers this runtime instance tracks (started by it or recovered), without looking for others.</summary>
    IReadOnlyList<ContainerInfo> List();

    /// <summary>What the runtime knows about one container, or null if nothing.</summary>
    ContainerInfo? Inspect(string id);

    /// <summary>
    /// Every container the runtime knows, including those started before an agent restart: running ones are adopted
    /// (<see cref="WaitAsync"/> works on them), exited ones report their exit.
    /// </summary>
    IReadOnlyList<ContainerInfo> Recover();
}

/// <summary>What a runtime can do; the agent reports what it cannot in events instead of failing.</summary>
/// <param name="NetworkNamespaces">Containers can join a pod network namespace.</param>
/// <param name="MountNamespaces">Volumes can be mounted at their mountPath for the container alone.</param>
/// <param name="ResourceLimits">limits.cpu and limits.memory are enforced.</param>
public sealed record RuntimeCapabilities(bool NetworkNamespaces, bool MountNamespaces, bool ResourceLimits);

/// <summary>Everything a runtime needs to start one container.</summary>
public sealed record ContainerConfig
{
    /// <summary>Labels the agent finds its containers by after a restart (pod UID, container name, attempt).</summary>
    public required IReadOnlyDictionary<string, string> Labels { get; init; }

    public required string Image { get; init; }

    /// <summary>The executable and its arguments (command + args after upstream's rules).</summary>
    public required IReadOnlyList<string> Command { get; init; }

    /// <summary>spec.command as written (after $(VAR) expansion): replaces the image's ENTRYPOINT when not empty.</summary>
    public IReadOnlyList<string> ImageCommand { get; init; } = [];

    /// <summary>spec.args as written (after $(VAR) expansion): replaces the image's CMD when not empty.</summary>
    public IReadOnlyList<string> ImageArgs { get; init; } = [];

    /// <summary>securityContext.readOnlyRootFilesystem (image runtimes).</summary>
    public bool ReadOnlyRootFilesystem { get; init; }

    /// <summary>securityContext.privileged (image runtimes).</summary>
    public bool Privileged { get; init; }

    /// <summary>securityContext.allowPrivilegeEscalation (false sets no_new_privs; image runtimes).</summary>
    public bool AllowPrivilegeEscalation { get; init; } = true;

    /// <summary>securityContext.capabilities add and drop (image runtimes).</summary>
    public IReadOnlyList<string> CapabilitiesAdd { get; init; } = [];

    public IReadOnlyList<string> CapabilitiesDrop { get; init; } = [];

    /// <summary>securityContext.runAsNonRoot: an image runtime refuses to start a container whose image runs as root.</summary>
    public bool RunAsNonRoot { get; init; }

    /// <summary>The pod's supplemental groups and fsGroup (image runtimes).</summary>
    public IReadOnlyList<long> SupplementalGroups { get; init; } = [];

    public IReadOnlyList<KeyValuePair<string, string>> Env { get; init; } = [];

    public string? WorkingDir { get; init; }

    public IReadOnlyList<Mount> Mounts { get; init; } = [];

    /// <summary>A network namespace path to join, or null for the host's network.</summary>
    public string? NetworkNamespace { get; init; }

    /// <summary>The container's host name (the pod's), or null to keep the machine's.</summary>
    public string? Hostname { get; init; }

    /// <summary>CPU limit in millicores, or null for none.</summary>
    public long? CpuMillis { get; init; }

    /// <summary>CPU request in millicores (relative weight), or null.</summary>
    public long? CpuRequestMillis { get; init; }

    /// <summary>The user the command runs as (securityContext.runAsUser), or null for the agent's own.</summary>
    public long? RunAsUser { get; init; }

    /// <summary>The group the command runs as (securityContext.runAsGroup; defaults to the user's ID when only that is set).</summary>
    public long? RunAsGroup { get; init; }

    /// <summary>Memory limit in bytes, or null for none.</summary>
    public long? MemoryBytes { get; init; }

    /// <summary>oom_score_adj of the container's processes (upstream derives it from the pod's QoS class).</summary>
    public int OomScoreAdj { get; init; }

    /// <summary>Keep the container's standard input open for attaching clients (spec.stdin) instead of /dev/null.</summary>
    public bool Stdin { get; init; }

    /// <summary>With <see cref="Stdin"/>: the input ends (EOF) when the first attached client is done with it (spec.stdinOnce).</summary>
    public bool StdinOnce { get; init; }

    /// <summary>
    /// Give the command a terminal (spec.tty): its stdin, stdout and stderr are one pseudo-terminal, its output a single
    /// stream, and attached clients can set its size.
    /// </summary>
    public bool Tty { get; init; }

    /// <summary>Where the container's output goes, one CRI log line per line written.</summary>
    public required string LogPath { get; init; }
}

/// <summary>A host path made visible at <paramref name="Target"/> inside the container.</summary>
public sealed record Mount(string Source, string Target, bool ReadOnly);

public enum ContainerStatus
{
    Running,
    Exited,
}

public sealed record ContainerInfo(string Id, ContainerConfig Config, ContainerStatus Status, DateTimeOffset StartedAt, ContainerExit? Exit);

/// <summary>How a container ended.</summary>
/// <param name="Reason">Upstream's reason: Completed (0), Error, OOMKilled, or ContainerStatusUnknown when the runtime lost track of it.</param>
public sealed record ContainerExit(int ExitCode, string Reason, DateTimeOffset FinishedAt, string? Message = null);

/// <summary>A container could not be started; <see cref="Reason"/> is upstream's waiting/terminated reason (StartError, RunContainerError…).</summary>
public sealed class ContainerStartException(string reason, string message) : Exception(message)
{
    public string Reason { get; } = reason;
}

/// <summary>Running a further command inside a running container (kubectl exec, exec probes and hooks).</summary>
public interface IExecRuntime
{
    /// <summary>Starts <paramref name="command"/> in the container's namespaces with its environment.</summary>
    /// <exception cref="ContainerStartException">The command could not be started.</exception>
    System.Diagnostics.Process Exec(string id, IReadOnlyList<string> command, bool redirectStdin);

    /// <summary>
    /// Prepares <paramref name="command"/> to run as <see cref="Exec"/> does, on a new pseudo-terminal that will be its
    /// stdin, stdout, stderr and controlling terminal (kubectl exec -t; TERM is xterm unless the container sets it).
    /// The terminal is open at once and the command starts with <see cref="TerminalExec.Start"/>, so that the
    /// client's first window size can be set before the command reads it.
    /// </summary>
    /// <exception cref="ContainerStartException">The container is not running or no terminal could be opened.</exception>
    TerminalExec ExecTerminal(string id, IReadOnlyList<string> command);
}

/// <summary>A command on a terminal: the terminal's other end (output to read, keys to write), its size, and the command once started.</summary>
public sealed class TerminalExec(Stream terminal, Action<int, int> resize, Func<System.Diagnostics.Process> start, IDisposable owner) : IDisposable
{
    /// <summary>Reads what the command writes to the terminal until it and everything it started have closed it, or until disposed.</summary>
    public Stream Terminal { get; } = terminal;

    /// <summary>The command, once <see cref="Start"/> has run.</summary>
    public System.Diagnostics.Process? Process { get; private set; }

    /// <summary>Sets the window size (columns, rows).</summary>
    public void Resize(int columns, int rows) => resize(columns, rows);

    /// <summary>Starts the command.</summary>
    /// <exception cref="ContainerStartException">The command could not be started.</exception>
    public System.Diagnostics.Process Start() => Process ??= start();

    public void Dispose()
    {
        Process?.Dispose();
        owner.Dispose();
    }
}

/// <summary>Attaching to a running container's own streams (kubectl attach, kubectl run -i).</summary>
public interface IAttachRuntime
{
    /// <summary>
    /// Delivers what the container writes from now on (stream name "stdout" or "stderr", raw bytes) until the returned
    /// subscription is disposed.
    /// </summary>
    IDisposable Subscribe(string id, Action<string, ReadOnlyMemory<byte>> output);

    /// <summary>A writer to the container's standard input, or null when it was not started with <see cref="ContainerConfig.Stdin"/>.</summary>
    Stream? OpenStdin(string id);

    /// <summary>Ends the container's standard input for good (after the first attach of a stdinOnce container).</summary>
    void CloseStdin(string id);

    /// <summary>Sets the window size of a container started with <see cref="ContainerConfig.Tty"/> (nothing otherwise).</summary>
    void ResizeTerminal(string id, int columns, int rows);
}

/// <summary>Per-container resource usage (cgroup accounting).</summary>
public interface IStatsRuntime
{
    /// <summary>Cumulative CPU time and current working-set memory, or null when the runtime does not account for it.</summary>
    ContainerStats? Stats(string id);
}

public sealed record ContainerStats(DateTimeOffset Timestamp, TimeSpan CpuUsage, long MemoryWorkingSetBytes);
