using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Tugboat.Agent.Runtime;
using Tugboat.Api.Serialization;

namespace Tugboat.Agent.Runtimes.Process;

/// <summary>
/// The default runtime: a container is its command run as a host process. Each container gets a small supervising
/// shell (its session leader) that joins the container's cgroup, sets up its mount and UTS namespaces when running as
/// root, runs the command in the foreground and writes its exit status to a file. Output goes through two FIFOs the
/// supervisor keeps open, so a restarting agent loses nothing: the container blocks on a full pipe at worst, and the
/// agent re-adopts it from its state directory (<c>ROOT/containers/ID</c>) when it comes back.
/// </summary>
public sealed partial class ProcessRuntime : IContainerRuntime, IExecRuntime, IStatsRuntime, IAttachRuntime
{
    private const string DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    private const int SigKill = 9;

    private readonly string _root;
    private readonly bool _root_user = Cgroup.IsRootUid();
    private readonly ConcurrentDictionary<string, Tracked> _containers = new(StringComparer.Ordinal);

    /// <param name="stateDir">Where container state lives (kept across agent restarts).</param>
    private readonly IReadOnlyList<string> _hidden;

    /// <param name="stateDir">Where containers' state is kept (DATA/agent/runtime).</param>
    /// <param name="hiddenPaths">
    /// Directories no container may see (the agent's and the server's data: keys, tokens, kubeconfig, the database):
    /// as root each container's mount namespace gets an empty tmpfs over them once its volumes are mounted.
    /// </param>
    public ProcessRuntime(string stateDir, IReadOnlyList<string>? hiddenPaths = null)
    {
        _hidden = hiddenPaths ?? [];
        _root = Path.Combine(stateDir, "containers");
        Directory.CreateDirectory(_root);
        Capabilities = new RuntimeCapabilities(_root_user, _root_user, Cgroup.Available);
    }

    public string Name => "process";

    public string Version => "process://1.0";

    public RuntimeCapabilities Capabilities { get; }

    private sealed class Tracked(string id, ContainerConfig config, string dir)
    {
        public string Id { get; } = id;
        public ContainerConfig Config { get; } = config;
        public string Dir { get; } = dir;
        public int WrapperPidField;

        public int WrapperPid
        {
            get => Volatile.Read(ref WrapperPidField);
            set => Volatile.Write(ref WrapperPidField, value);
        }
        public long WrapperStart { get; set; }
        public DateTimeOffset StartedAt { get; set; }
        public System.Diagnostics.Process? Process { get; set; }
        public Task[] Pumps { get; set; } = [];
        public CriLog? Log { get; set; }
        public Task<ContainerExit>? Exit { get; set; }
        public bool Abandoned { get; set; }
        public FileStream? StdinHolder { get; set; }
        public TaskCompletionSource Opened { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public readonly Lock Gate = new();
    }

    public async Task<string> StartAsync(ContainerConfig config, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.Command.Count == 0)
        {
            throw new ContainerStartException("StartError", "no command specified");
        }
        var env = config.Env.GroupBy(e => e.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Last().Value, StringComparer.Ordinal);
        env.TryAdd("PATH", DefaultPath);
        var executable = Resolve(config.Command[0], env["PATH"]);
        if (config.Tty)
        {
            // As containerd gives a terminal container.
            env.TryAdd("TERM", "xterm");
        }
        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        var dir = Path.Combine(_root, id);
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "config.json"), Serialize(config).ToJsonString(JsonLimits.Writer));
        foreach (var fifo in config.Stdin ? new[] { "stdout", "stderr", "stdin" } : ["stdout", "stderr"])
        {
            if (MkFifo(Path.Combine(dir, fifo), 0x180) != 0)
            {
                throw new ContainerStartException("StartError", $"mkfifo {fifo}: errno {Marshal.GetLastPInvokeError()}");
            }
        }
        var cgroup = Cgroup.Available ? Cgroup.For(id) : null;
        cgroup?.Create(config.MemoryBytes, config.CpuMillis, config.CpuRequestMillis);
        File.WriteAllText(Path.Combine(dir, "run.sh"), Script(dir, config, cgroup));
        if (config.Tty)
        {
            // The command line script(1) hands to the shell, each word quoted; the shell execs it, so that script's
            // child is the command itself.
            File.WriteAllText(Path.Combine(dir, "command"), "exec " + string.Join(' ', config.Command.Skip(1).Prepend(executable).Select(a => "'" + a.Replace("'", "'\\''", StringComparison.Ordinal) + "'")));
        }

        var psi = new ProcessStartInfo("setsid")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (config.NetworkNamespace is { } netns && _root_user)
        {
            psi.ArgumentList.Add("nsenter");
            psi.ArgumentList.Add("--net=" + netns);
        }
        if (_root_user && (config.Mounts.Count > 0 || config.Hostname is not null || _hidden.Count > 0))
        {
            foreach (var a in new[] { "unshare", "--mount", "--uts", "--propagation", "private" })
            {
                psi.ArgumentList.Add(a);
            }
        }
        psi.ArgumentList.Add("/bin/sh");
        psi.ArgumentList.Add(Path.Combine(dir, "run.sh"));
        psi.ArgumentList.Add(executable);
        foreach (var a in config.Command.Skip(1))
        {
            psi.ArgumentList.Add(a);
        }
        psi.Environment.Clear();
        foreach (var (k, v) in env)
        {
            psi.Environment[k] = v;
        }
        var tracked = new Tracked(id, config, dir) { StartedAt = DateTimeOffset.UtcNow };
        if (config.Stdin && config.StdinOnce)
        {
            // The agent holds the input open until the first attach is done; closing it is the command's end of input.
            tracked.StdinHolder = new FileStream(Path.Combine(dir, "stdin"), FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite, 1);
        }
        StartPumps(tracked);
        await Task.WhenAll(tracked.Pumps.Select(_ => tracked.Opened.Task)).ConfigureAwait(false);
        System.Diagnostics.Process process;
        try
        {
            process = System.Diagnostics.Process.Start(psi)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            tracked.Abandoned = true;
            Cleanup(dir, cgroup);
            throw new ContainerStartException("StartError", e.Message);
        }
        process.StandardInput.Close();
        var launchErrors = process.StandardError.ReadToEndAsync(ct);
        tracked.Process = process;
        // The start time first: a pump that sees the PID judges liveness by both.
        tracked.WrapperStart = StartTime(process.Id) ?? 0;
        Volatile.Write(ref tracked.WrapperPidField, process.Id);
        File.WriteAllText(Path.Combine(dir, "wrapper"), $"{tracked.WrapperPid} {tracked.WrapperStart} {tracked.StartedAt.ToUnixTimeMilliseconds()}");
        // The command has started once its pid file exists; an early exit without one is a failed start.
        var childPid = Path.Combine(dir, "child.pid");
        while (!File.Exists(childPid) && !process.HasExited)
        {
            await Task.Delay(2, ct).ConfigureAwait(false);
        }
        if (!File.Exists(childPid))
        {
            var errors = (await launchErrors.ConfigureAwait(false) + ReadOrEmpty(Path.Combine(dir, "start.err"))).Trim();
            tracked.Abandoned = true;
            await Task.WhenAll(tracked.Pumps).ConfigureAwait(false);
            tracked.Log?.Dispose();
            Cleanup(dir, cgroup);
            throw new ContainerStartException("StartError", errors.Length > 0 ? errors : $"the container's supervisor exited with {process.ExitCode}");
        }
        _containers[id] = tracked;
        tracked.Exit = WaitForExitAsync(tracked);
        return id;
    }

    private static string Resolve(string command, string path)
    {
        if (command.Contains('/', StringComparison.Ordinal))
        {
            return File.Exists(command) ? command : throw new ContainerStartException("StartError", $"exec: \"{command}\": stat {command}: no such file or directory");
        }
        foreach (var dir in path.Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, command);
            if (File.Exists(candidate) && (File.GetUnixFileMode(candidate) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0)
            {
                return candidate;
            }
        }
        throw new ContainerStartException("StartError", $"exec: \"{command}\": executable file not found in $PATH");
    }

    private static string Quote(string s) => "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    /// <summary>The supervising shell: set up, run the command in the foreground, record its exit status.</summary>
    private string Script(string dir, ContainerConfig config, Cgroup? cgroup)
    {
        var s = new StringBuilder();
        s.Append("d=").Append(Quote(dir)).Append('\n');
        s.Append("exec </dev/null >/dev/null 2>>\"$d/start.err\"\n");
        foreach (var cg in cgroup?.Directories ?? [])
        {
            s.Append("echo $$ > ").Append(Quote(Path.Combine(cg, "cgroup.procs"))).Append(" || exit 125\n");
        }
        // The supervisor is the last thing the OOM killer should pick; the command gets the container's own score.
        s.Append("echo -998 > /proc/self/oom_score_adj 2>/dev/null\n");
        if (_root_user)
        {
            foreach (var m in config.Mounts)
            {
                s.Append("[ -e ").Append(Quote(m.Target)).Append(" ] || { if [ -d ").Append(Quote(m.Source)).Append(" ]; then mkdir -p ").Append(Quote(m.Target))
                    .Append("; else mkdir -p \"$(dirname ").Append(Quote(m.Target)).Append(")\" && : > ").Append(Quote(m.Target)).Append("; fi; } || exit 125\n");
                s.Append("mount --bind ").Append(Quote(m.Source)).Append(' ').Append(Quote(m.Target)).Append(" || exit 125\n");
                if (m.ReadOnly)
                {
                    s.Append("mount -o remount,bind,ro ").Append(Quote(m.Target)).Append(" || exit 125\n");
                }
            }
            if (config.Hostname is { } host)
            {
                s.Append("hostname ").Append(Quote(host)).Append(" || exit 125\n");
            }
            if (_hidden.Count > 0)
            {
                // The node's data is hidden from the container; the supervisor keeps reaching its own directory
                // (FIFOs, exit status) through a descriptor opened before.
                s.Append("exec 7<\"$d\" || exit 125\n");
                s.Append("d=/proc/$$/fd/7\n");
                foreach (var hidden in _hidden)
                {
                    s.Append("[ -d ").Append(Quote(hidden)).Append(" ] && { mount -t tmpfs -o size=4k,mode=0755 tugboat-hidden ").Append(Quote(hidden)).Append(" || exit 125; }\n");
                }
            }
        }
        if (config.WorkingDir is not { Length: > 0 })
        {
            // As a container without a working directory starts in its root.
            s.Append("cd /\n");
        }
        else if (config.WorkingDir is { Length: > 0 } cwd)
        {
            s.Append("cd ").Append(Quote(cwd)).Append(" 2>/dev/null || { echo ").Append(Quote($"chdir to cwd (\"{cwd}\") set in config.json failed: no such file or directory")).Append(" >&2; exit 125; }\n");
        }
        s.Append("exec 3<>\"$d/stdout\" 4<>\"$d/stderr\"\n");
        // An attachable stdin: the supervisor holds the FIFO open, so the command waits for input instead of seeing its end.
        var stdin = config.Stdin ? "<\"$d/stdin\" 5>&-" : string.Empty;
        if (config.Stdin && !config.StdinOnce)
        {
            s.Append("exec 5<>\"$d/stdin\"\n");
        }
        s.Append("trap : TERM INT HUP QUIT USR1 USR2\n");
        // With a terminal, script(1) is the command's terminal: it opens a pseudo-terminal, runs the command on it as the
        // leader of a new session, copies the input (the FIFO) to it and what appears on it to stdout, passes SIGTERM
        // on and exits with the command's code. Its child is the command; resizes are set on the command's terminal.
        var command = config.Tty ? "script -qfec \"$(cat \"$0/command\")\" /dev/null" : "\"$@\"";
        s.Append("/bin/sh -c 'echo $$ > \"$0/child.pid.tmp\" && mv \"$0/child.pid.tmp\" \"$0/child.pid\"; echo ").Append(config.OomScoreAdj.ToString(CultureInfo.InvariantCulture))
            .Append(" > /proc/self/oom_score_adj 2>/dev/null; exec ").Append(User(config)).Append(command.Replace("'", "'\\''", StringComparison.Ordinal)).Append("' \"$d\" \"$@\" >\"$d/stdout\" 2>\"$d/stderr\" 3>&- 4>&- ").Append(stdin).Append('\n');
        s.Append("s=$?\n");
        s.Append("echo $s > \"$d/exit.tmp\" && mv \"$d/exit.tmp\" \"$d/exit\"\n");
        return s.ToString();
    }

    /// <summary>setpriv(1) dropping to the container's user and group (no supplementary groups), or nothing.</summary>
    private string User(ContainerConfig config) =>
        config.RunAsUser is { } uid && _root_user
            ? $"setpriv --reuid={uid.ToString(CultureInfo.InvariantCulture)} --regid={(config.RunAsGroup ?? uid).ToString(CultureInfo.InvariantCulture)} --clear-groups -- "
            : config.RunAsGroup is { } gid && _root_user ? $"setpriv --regid={gid.ToString(CultureInfo.InvariantCulture)} --clear-groups -- " : string.Empty;

    private void StartPumps(Tracked t)
    {
        t.Log = new CriLog(t.Config.LogPath);
        // The file exists from the start, so the attempt's log is there (empty) before its first line.
        t.Log.Touch();
        t.Pumps =
        [
            Task.Factory.StartNew(() => Pump(t, "stdout"), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default),
            Task.Factory.StartNew(() => Pump(t, "stderr"), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default),
        ];
    }

    private static void Pump(Tracked t, string stream)
    {
        try
        {
            // Opened (without waiting for a writer) before the supervisor starts, so nothing the container writes,
            // however quickly it exits, is lost with the pipe.
            var fd = Open(Path.Combine(t.Dir, stream), ORdOnly | ONonBlock);
            if (fd < 0)
            {
                return;
            }
            _ = Fcntl(fd, FSetFl, 0);
            using var fifo = new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, ownsHandle: true), FileAccess.Read, 1);
            t.Opened.TrySetResult();
            t.Log!.Pump(fifo, stream, () => t.Abandoned || (t.WrapperPid != 0 && !Alive(t.WrapperPid, t.WrapperStart)));
        }
        catch (IOException)
        {
        }
        finally
        {
            t.Opened.TrySetResult();
        }
    }

    private const int ORdOnly = 0;
    private const int ONonBlock = 0x800;
    private const int FSetFl = 4;

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int Fcntl(int fd, int command, int arg);

    /// <summary>Waits for the supervisor, stops what the command left behind, drains the output and reads the exit.</summary>
    private async Task<ContainerExit> WaitForExitAsync(Tracked t)
    {
        if (t.Process is { } p)
        {
            await p.WaitForExitAsync().ConfigureAwait(false);
        }
        else
        {
            while (Alive(t.WrapperPid, t.WrapperStart))
            {
                await Task.Delay(200).ConfigureAwait(false);
            }
        }
        KillRemaining(t);
        // Everything the container wrote is in its log before its exit is reported (bounded, should a process that
        // escaped the kill still hold a pipe open).
        await Task.WhenAny(Task.WhenAll(t.Pumps), Task.Delay(TimeSpan.FromSeconds(30))).ConfigureAwait(false);
        t.Log?.Dispose();
        t.StdinHolder?.Dispose();
        return ReadExit(t);
    }

    private static ContainerExit ReadExit(Tracked t)
    {
        var exitFile = Path.Combine(t.Dir, "exit");
        var cgroup = Cgroup.Available ? Cgroup.For(t.Id) : null;
        var oom = cgroup?.OomKilled() == true;
        if (!File.Exists(exitFile))
        {
            return new ContainerExit(137, oom ? "OOMKilled" : "ContainerStatusUnknown", DateTimeOffset.UtcNow,
                oom ? null : "The container could not be located when the pod was terminated");
        }
        var code = int.TryParse(File.ReadAllText(exitFile).Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var c) ? c : 255;
        var finished = new DateTimeOffset(File.GetLastWriteTimeUtc(exitFile), TimeSpan.Zero);
        var reason = oom && code != 0 ? "OOMKilled" : code == 0 ? "Completed" : "Error";
        return new ContainerExit(code, reason, finished);
    }

    public Task<ContainerExit> WaitAsync(string id, CancellationToken ct) =>
        _containers.TryGetValue(id, out var t) && t.Exit is { } exit
            ? exit.WaitAsync(ct)
            : throw new KeyNotFoundException($"container {id} is not known");

    public async Task<ContainerExit> StopAsync(string id, int signal, TimeSpan timeout, CancellationToken ct)
    {
        if (!_containers.TryGetValue(id, out var t) || t.Exit is null)
        {
            throw new KeyNotFoundException($"container {id} is not known");
        }
        if (!t.Exit.IsCompleted && ChildPid(t) is { } child)
        {
            // On a terminal the command is script(1)'s child: it gets the signal itself, and script keeps copying its
            // output until it exits (script would instead give it two seconds before killing it).
            foreach (var target in t.Config.Tty ? Children(child).DefaultIfEmpty(child) : [child])
            {
                _ = Kill(target, signal);
            }
        }
        if (timeout > TimeSpan.Zero)
        {
            await Task.WhenAny(t.Exit, Task.Delay(timeout, ct)).ConfigureAwait(false);
        }
        if (!t.Exit.IsCompleted)
        {
            foreach (var pid in ContainerProcesses(t, includeWrapper: false))
            {
                _ = Kill(pid, SigKill);
            }
        }
        return await t.Exit.WaitAsync(ct).ConfigureAwait(false);
    }

    public Task DestroyAsync(string id, CancellationToken ct)
    {
        if (_containers.TryRemove(id, out var t))
        {
            Cleanup(t.Dir, Cgroup.Available ? Cgroup.For(id) : null);
        }
        return Task.CompletedTask;
    }

    public IReadOnlyList<ContainerInfo> List() => _containers.Values.Select(Info).ToList();

    public ContainerInfo? Inspect(string id) => _containers.TryGetValue(id, out var t) ? Info(t) : null;

    private static ContainerInfo Info(Tracked t) =>
        t.Exit is { IsCompletedSuccessfully: true } exit
            ? new ContainerInfo(t.Id, t.Config, ContainerStatus.Exited, t.StartedAt, exit.Result)
            : new ContainerInfo(t.Id, t.Config, ContainerStatus.Running, t.StartedAt, null);

    public IReadOnlyList<ContainerInfo> Recover()
    {
        foreach (var dir in Directory.GetDirectories(_root))
        {
            var id = Path.GetFileName(dir);
            if (_containers.ContainsKey(id))
            {
                continue;
            }
            try
            {
                var config = Deserialize(JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "config.json")))!.AsObject());
                var parts = File.ReadAllText(Path.Combine(dir, "wrapper")).Split(' ');
                var t = new Tracked(id, config, dir)
                {
                    WrapperPid = int.Parse(parts[0], CultureInfo.InvariantCulture),
                    WrapperStart = long.Parse(parts[1], CultureInfo.InvariantCulture),
                    StartedAt = DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(parts[2], CultureInfo.InvariantCulture)),
                };
                if (!File.Exists(Path.Combine(dir, "exit")) && Alive(t.WrapperPid, t.WrapperStart))
                {
                    StartPumps(t);
                }
                t.Exit = WaitForExitAsync(t);
                _containers[id] = t;
            }
            catch (Exception e) when (e is IOException or FormatException or IndexOutOfRangeException or System.Text.Json.JsonException or NullReferenceException)
            {
                // A container whose start was interrupted before its state was complete: nothing of it runs.
                Cleanup(dir, Cgroup.Available ? Cgroup.For(id) : null);
            }
        }
        return _containers.Values.Select(Info).ToList();
    }

    public System.Diagnostics.Process Exec(string id, IReadOnlyList<string> command, bool redirectStdin) => StartExec(id, command, redirectStdin, terminal: null);

    public TerminalExec ExecTerminal(string id, IReadOnlyList<string> command)
    {
        PseudoTerminal pty;
        try
        {
            pty = PseudoTerminal.Open();
        }
        catch (IOException e)
        {
            throw new ContainerStartException("StartError", e.Message);
        }
        if (!_containers.TryGetValue(id, out var t) || t.Exit is not { IsCompleted: false })
        {
            pty.Dispose();
            throw new ContainerStartException("StartError", $"container {id} is not running");
        }
        return new TerminalExec(pty.Stream, pty.Resize, () => StartExec(id, command, redirectStdin: false, pty.SlavePath), pty);
    }

    /// <summary>
    /// Starts an exec'd command. With <paramref name="terminal"/> (a pseudo-terminal's slave) a shell opens it as the
    /// command's stdin, stdout and stderr, and setsid(1) makes it the controlling terminal of a new session before the
    /// command (through nsenter when root) replaces them, so the exit code is the command's.
    /// </summary>
    private System.Diagnostics.Process StartExec(string id, IReadOnlyList<string> command, bool redirectStdin, string? terminal)
    {
        if (!_containers.TryGetValue(id, out var t) || t.Exit is not { IsCompleted: false } || ChildPid(t) is not { } child)
        {
            throw new ContainerStartException("StartError", $"container {id} is not running");
        }
        var env = t.Config.Env.GroupBy(e => e.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Last().Value, StringComparer.Ordinal);
        env.TryAdd("PATH", DefaultPath);
        var executable = Resolve(command[0], env["PATH"]);
        var psi = new ProcessStartInfo(_root_user ? "nsenter" : executable)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = t.Config.WorkingDir is { Length: > 0 } wd && !_root_user ? wd : null,
        };
        if (_root_user)
        {
            psi.ArgumentList.Add("--target");
            psi.ArgumentList.Add(child.ToString(CultureInfo.InvariantCulture));
            psi.ArgumentList.Add("--mount");
            psi.ArgumentList.Add("--uts");
            psi.ArgumentList.Add("--net");
            psi.ArgumentList.Add("--wd=" + (t.Config.WorkingDir is { Length: > 0 } cwd ? cwd : "/"));
            // Exec'd commands run as the container's user, as the main process does.
            foreach (var a in User(t.Config).Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                psi.ArgumentList.Add(a);
            }
            psi.ArgumentList.Add(executable);
        }
        foreach (var a in command.Skip(1))
        {
            psi.ArgumentList.Add(a);
        }
        psi.Environment.Clear();
        foreach (var (k, v) in env)
        {
            psi.Environment[k] = v;
        }
        if (terminal is not null)
        {
            psi.Environment.TryAdd("TERM", "xterm");
            psi.ArgumentList.Insert(0, psi.FileName);
            psi.ArgumentList.Insert(0, terminal);
            psi.ArgumentList.Insert(0, "exec setsid -w -c \"$@\" <>\"$0\" >&0 2>&0");
            psi.ArgumentList.Insert(0, "-c");
            psi.FileName = "/bin/sh";
            psi.RedirectStandardInput = psi.RedirectStandardOutput = psi.RedirectStandardError = false;
        }
        var process = System.Diagnostics.Process.Start(psi)!;
        if (!redirectStdin && terminal is null)
        {
            process.StandardInput.Close();
        }
        // Exec'd processes belong to the container: they join its cgroup (limits and accounting).
        foreach (var cg in Cgroup.Available ? Cgroup.For(id).Directories : [])
        {
            try
            {
                File.WriteAllText(Path.Combine(cg, "cgroup.procs"), process.Id.ToString(CultureInfo.InvariantCulture));
            }
            catch (IOException)
            {
            }
        }
        return process;
    }

    public IDisposable Subscribe(string id, Action<string, ReadOnlyMemory<byte>> output) =>
        _containers.TryGetValue(id, out var t) && t.Log is { } log ? log.Listen(output) : throw new KeyNotFoundException($"container {id} is not running");

    public void ResizeTerminal(string id, int columns, int rows)
    {
        if (_containers.TryGetValue(id, out var t) && t.Config.Tty && t.Exit is { IsCompleted: false } && ChildPid(t) is { } script)
        {
            // script(1)'s child is the command, and its stdin the terminal.
            foreach (var pid in Children(script))
            {
                PseudoTerminal.ResizeOf(pid, columns, rows);
            }
        }
    }

    private static IEnumerable<int> Children(int pid)
    {
        string text;
        try
        {
            text = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/task/{pid.ToString(CultureInfo.InvariantCulture)}/children");
        }
        catch (IOException)
        {
            yield break;
        }
        catch (UnauthorizedAccessException)
        {
            yield break;
        }
        foreach (var child in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (int.TryParse(child, NumberStyles.None, CultureInfo.InvariantCulture, out var c))
            {
                yield return c;
            }
        }
    }

    public Stream? OpenStdin(string id)
    {
        if (!_containers.TryGetValue(id, out var t) || !t.Config.Stdin || t.Exit is not { IsCompleted: false })
        {
            return null;
        }
        // The supervisor holds the FIFO open for reading and writing, so this open never waits.
        return new FileStream(Path.Combine(t.Dir, "stdin"), FileMode.Open, FileAccess.Write, FileShare.ReadWrite, 1);
    }

    public void CloseStdin(string id)
    {
        if (_containers.TryGetValue(id, out var t) && t.StdinHolder is { } holder)
        {
            t.StdinHolder = null;
            holder.Dispose();
        }
    }

    public ContainerStats? Stats(string id) =>
        Cgroup.Available && _containers.ContainsKey(id) && Cgroup.For(id).Usage() is { } u ? new ContainerStats(DateTimeOffset.UtcNow, u.Cpu, u.WorkingSet) : null;

    private static int? ChildPid(Tracked t) =>
        int.TryParse(ReadOrEmpty(Path.Combine(t.Dir, "child.pid")).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) ? pid : null;

    /// <summary>Kills every process the command left behind once the supervisor is gone (a container ends with its main process).</summary>
    private static void KillRemaining(Tracked t)
    {
        for (var round = 0; round < 10; round++)
        {
            var pids = ContainerProcesses(t, includeWrapper: true);
            if (pids.Count == 0)
            {
                return;
            }
            foreach (var pid in pids)
            {
                _ = Kill(pid, SigKill);
            }
            Thread.Sleep(10);
        }
    }

    /// <summary>The container's processes: its cgroup's members when it has one, and the supervisor's process group.</summary>
    private static List<int> ContainerProcesses(Tracked t, bool includeWrapper)
    {
        var pids = new HashSet<int>(Cgroup.Available ? Cgroup.For(t.Id).Processes() : []);
        foreach (var proc in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(proc), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && Stat(pid) is { } stat && stat.Pgrp == t.WrapperPid && stat.Start >= t.WrapperStart)
            {
                pids.Add(pid);
            }
        }
        if (!includeWrapper)
        {
            pids.Remove(t.WrapperPid);
        }
        else if (!Alive(t.WrapperPid, t.WrapperStart))
        {
            pids.Remove(t.WrapperPid);
        }
        return pids.ToList();
    }

    private static bool Alive(int pid, long start) => Stat(pid) is { } s && s.Start == start && s.State != 'Z';

    private static long? StartTime(int pid) => Stat(pid)?.Start;

    /// <summary>Fields of /proc/PID/stat: state, process group and start time (clock ticks since boot, which tells PID reuse apart).</summary>
    private static (char State, int Pgrp, long Start)? Stat(int pid)
    {
        try
        {
            var text = File.ReadAllText($"/proc/{pid}/stat");
            var fields = text[(text.LastIndexOf(')') + 2)..].Split(' ');
            return (fields[0][0], int.Parse(fields[2], CultureInfo.InvariantCulture), long.Parse(fields[19], CultureInfo.InvariantCulture));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return null;
        }
    }

    private static string ReadOrEmpty(string file)
    {
        try
        {
            return File.ReadAllText(file);
        }
        catch (IOException)
        {
            return string.Empty;
        }
    }

    private static void Cleanup(string dir, Cgroup? cgroup)
    {
        cgroup?.Delete();
        try
        {
            Directory.Delete(dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static JsonObject Serialize(ContainerConfig c)
    {
        var labels = new JsonObject();
        foreach (var (k, v) in c.Labels)
        {
            labels[k] = v;
        }
        return new JsonObject
        {
            ["labels"] = labels,
            ["image"] = c.Image,
            ["command"] = new JsonArray(c.Command.Select(a => (JsonNode?)a).ToArray()),
            ["env"] = new JsonArray(c.Env.Select(e => (JsonNode?)new JsonObject { ["name"] = e.Key, ["value"] = e.Value }).ToArray()),
            ["workingDir"] = c.WorkingDir,
            ["mounts"] = new JsonArray(c.Mounts.Select(m => (JsonNode?)new JsonObject { ["source"] = m.Source, ["target"] = m.Target, ["readOnly"] = m.ReadOnly }).ToArray()),
            ["netns"] = c.NetworkNamespace,
            ["hostname"] = c.Hostname,
            ["cpuMillis"] = c.CpuMillis,
            ["cpuRequestMillis"] = c.CpuRequestMillis,
            ["memoryBytes"] = c.MemoryBytes,
            ["oomScoreAdj"] = c.OomScoreAdj,
            ["stdin"] = c.Stdin,
            ["stdinOnce"] = c.StdinOnce,
            ["tty"] = c.Tty,
            ["runAsUser"] = c.RunAsUser,
            ["runAsGroup"] = c.RunAsGroup,
            ["logPath"] = c.LogPath,
        };
    }

    private static ContainerConfig Deserialize(JsonObject o) => new()
    {
        Labels = o["labels"]!.AsObject().ToDictionary(p => p.Key, p => p.Value!.GetValue<string>(), StringComparer.Ordinal),
        Image = o["image"]!.GetValue<string>(),
        Command = o["command"]!.AsArray().Select(a => a!.GetValue<string>()).ToList(),
        Env = o["env"]!.AsArray().Select(e => KeyValuePair.Create(e!["name"]!.GetValue<string>(), e["value"]!.GetValue<string>())).ToList(),
        WorkingDir = o["workingDir"]?.GetValue<string>(),
        Mounts = o["mounts"]!.AsArray().Select(m => new Mount(m!["source"]!.GetValue<string>(), m["target"]!.GetValue<string>(), m["readOnly"]!.GetValue<bool>())).ToList(),
        NetworkNamespace = o["netns"]?.GetValue<string>(),
        Hostname = o["hostname"]?.GetValue<string>(),
        CpuMillis = o["cpuMillis"]?.GetValue<long>(),
        CpuRequestMillis = o["cpuRequestMillis"]?.GetValue<long>(),
        MemoryBytes = o["memoryBytes"]?.GetValue<long>(),
        OomScoreAdj = o["oomScoreAdj"]?.GetValue<int>() ?? 0,
        Stdin = o["stdin"]?.GetValue<bool>() ?? false,
        StdinOnce = o["stdinOnce"]?.GetValue<bool>() ?? false,
        Tty = o["tty"]?.GetValue<bool>() ?? false,
        RunAsUser = o["runAsUser"]?.GetValue<long>(),
        RunAsGroup = o["runAsGroup"]?.GetValue<long>(),
        LogPath = o["logPath"]!.GetValue<string>(),
    };

    [LibraryImport("libc", EntryPoint = "mkfifo", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int MkFifo(string path, uint mode);

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
