using Tugboat.Agent.Runtime;

namespace Tugboat.Agent.Tests.Runtime;

/// <summary>What every <see cref="IContainerRuntime"/> must do; one small subclass per runtime runs it.</summary>
public abstract class RuntimeConformanceTests : IDisposable
{
    protected RuntimeConformanceTests()
    {
        StateDir = Directory.CreateTempSubdirectory("tugboat-runtime-").FullName;
    }

    protected string StateDir { get; }

    protected abstract IContainerRuntime CreateRuntime();

    /// <summary>
    /// Whether a container's process IDs are the host's; a runtime with a PID namespace per container has its left-behind
    /// processes ended by the kernel with the namespace, which the host cannot observe by the IDs the container prints.
    /// </summary>
    protected virtual bool SharesHostPids => true;

    /// <summary>Whether a workingDir that does not exist is created (runc's behaviour, so every containerd cluster's) rather than refused.</summary>
    protected virtual bool CreatesMissingWorkingDirectory => false;

    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private readonly List<(IContainerRuntime Runtime, string Id)> _started = [];

    protected ContainerConfig Config(string script, params KeyValuePair<string, string>[] env) => new()
    {
        Labels = new Dictionary<string, string> { ["test"] = "conformance" },
        Image = "busybox",
        Command = ["sh", "-c", script],
        Env = env,
        LogPath = Path.Combine(StateDir, "logs", Guid.NewGuid().ToString("N") + ".log"),
    };

    protected async Task<string> StartAsync(IContainerRuntime runtime, ContainerConfig config)
    {
        var id = await runtime.StartAsync(config, CancellationToken.None);
        _started.Add((runtime, id));
        return id;
    }

    private static async Task<ContainerExit> WaitAsync(IContainerRuntime runtime, string id)
    {
        using var cts = new CancellationTokenSource(Patience);
        return await runtime.WaitAsync(id, cts.Token);
    }

    private static string[] LogLines(ContainerConfig config) => File.Exists(config.LogPath) ? File.ReadAllLines(config.LogPath) : [];

    [Fact]
    public async Task Output_goes_to_a_cri_log_and_the_exit_code_is_reported()
    {
        var runtime = CreateRuntime();
        var config = Config("echo hello; echo oops >&2; printf 'no newline'; exit 3");
        var id = await StartAsync(runtime, config);
        var exit = await WaitAsync(runtime, id);
        Assert.Equal(3, exit.ExitCode);
        Assert.Equal("Error", exit.Reason);
        var lines = LogLines(config);
        Assert.Contains(lines, l => l.EndsWith(" stdout F hello", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.EndsWith(" stderr F oops", StringComparison.Ordinal));
        // Output the container ended without a newline is its last line, whole (F) or marked partial (P, as containerd writes it).
        Assert.Contains(lines, l => l.EndsWith(" stdout F no newline", StringComparison.Ordinal) || l.EndsWith(" stdout P no newline", StringComparison.Ordinal));
        // RFC 3339 with nanoseconds, as Go writes it (containerd drops trailing zeros of the fraction).
        Assert.All(lines, l => Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z (stdout|stderr) [FP] ", l));
        Assert.Equal(ContainerStatus.Exited, runtime.Inspect(id)!.Status);
    }

    [Fact]
    public async Task A_zero_exit_is_completed()
    {
        var runtime = CreateRuntime();
        var id = await StartAsync(runtime, Config("true"));
        var exit = await WaitAsync(runtime, id);
        Assert.Equal((0, "Completed"), (exit.ExitCode, exit.Reason));
    }

    [Fact]
    public async Task A_missing_executable_fails_to_start_with_start_error()
    {
        var runtime = CreateRuntime();
        var config = Config("true") with { Command = ["no-such-command-here", "x"] };
        var e = await Assert.ThrowsAsync<ContainerStartException>(() => runtime.StartAsync(config, CancellationToken.None));
        Assert.Equal("StartError", e.Reason);
        Assert.Contains("executable file not found in $PATH", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_missing_working_directory_fails_to_start_or_is_created()
    {
        var runtime = CreateRuntime();
        var config = Config("pwd") with { WorkingDir = "/no/such/dir/here" };
        if (CreatesMissingWorkingDirectory)
        {
            var id = await StartAsync(runtime, config);
            Assert.Equal(0, (await WaitAsync(runtime, id)).ExitCode);
            Assert.Contains(LogLines(config), l => l.EndsWith(" F /no/such/dir/here", StringComparison.Ordinal));
            return;
        }
        var e = await Assert.ThrowsAsync<ContainerStartException>(() => runtime.StartAsync(config, CancellationToken.None));
        Assert.Contains("chdir to cwd", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Environment_and_working_directory_are_the_containers_own()
    {
        var runtime = CreateRuntime();
        var config = Config("echo \"$GREETING\"; pwd; echo \"path=$PATH\"", KeyValuePair.Create("GREETING", "hi there")) with { WorkingDir = "/tmp" };
        var id = await StartAsync(runtime, config);
        Assert.Equal(0, (await WaitAsync(runtime, id)).ExitCode);
        var lines = LogLines(config);
        Assert.Contains(lines, l => l.EndsWith(" F hi there", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.EndsWith(" F /tmp", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains(" F path=/", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Stop_sends_the_signal_and_a_graceful_process_exits_on_its_own()
    {
        var runtime = CreateRuntime();
        var config = Config("trap 'echo bye; exit 0' TERM; echo up; while :; do sleep 0.1; done");
        var id = await StartAsync(runtime, config);
        await Until(() => LogLines(config).Any(l => l.EndsWith(" F up", StringComparison.Ordinal)));
        var exit = await runtime.StopAsync(id, 15, TimeSpan.FromSeconds(20), CancellationToken.None);
        Assert.Equal(0, exit.ExitCode);
        Assert.Contains(LogLines(config), l => l.EndsWith(" F bye", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Stop_kills_a_process_that_ignores_the_signal_after_the_timeout()
    {
        var runtime = CreateRuntime();
        var config = Config("trap '' TERM; echo up; sleep 60");
        var id = await StartAsync(runtime, config);
        await Until(() => LogLines(config).Length > 0);
        var exit = await runtime.StopAsync(id, 15, TimeSpan.FromMilliseconds(300), CancellationToken.None);
        Assert.Equal(137, exit.ExitCode);
    }

    [Fact]
    public async Task Processes_left_behind_by_the_main_process_end_with_it()
    {
        var runtime = CreateRuntime();
        var config = Config("sleep 300 & echo $!");
        var id = await StartAsync(runtime, config);
        Assert.Equal(0, (await WaitAsync(runtime, id)).ExitCode);
        if (!SharesHostPids)
        {
            return;
        }
        var pid = int.Parse(LogLines(config).Single().Split(' ')[^1], System.Globalization.CultureInfo.InvariantCulture);
        await Until(() => !File.Exists($"/proc/{pid}/stat") || File.ReadAllText($"/proc/{pid}/stat").Contains(") Z ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_new_runtime_adopts_running_containers_and_sees_their_exit()
    {
        var first = CreateRuntime();
        var config = Config("echo before; read -t 2 x </dev/null; sleep 1; echo after; exit 4");
        var id = await StartAsync(first, config);
        var second = CreateRuntime();
        var recovered = second.Recover().Single(c => c.Id == id);
        Assert.Equal(ContainerStatus.Running, recovered.Status);
        Assert.Equal("conformance", recovered.Config.Labels["test"]);
        var exit = await WaitAsync(second, id);
        Assert.Equal(4, exit.ExitCode);
        await Until(() => LogLines(config).Any(l => l.EndsWith(" F after", StringComparison.Ordinal)));
        var third = CreateRuntime();
        var exited = third.Recover().Single(c => c.Id == id);
        Assert.Equal(ContainerStatus.Exited, exited.Status);
        Assert.Equal(4, exited.Exit!.ExitCode);
    }

    [Fact]
    public async Task Destroy_forgets_an_exited_container()
    {
        var runtime = CreateRuntime();
        var id = await StartAsync(runtime, Config("true"));
        await WaitAsync(runtime, id);
        await runtime.DestroyAsync(id, CancellationToken.None);
        Assert.Null(runtime.Inspect(id));
        Assert.DoesNotContain(CreateRuntime().Recover(), c => c.Id == id);
    }

    [Fact]
    public async Task Exec_runs_in_the_container_with_its_environment()
    {
        var runtime = CreateRuntime();
        if (runtime is not IExecRuntime exec)
        {
            return;
        }
        var id = await StartAsync(runtime, Config("sleep 30", KeyValuePair.Create("SECRET_WORD", "swordfish")));
        using var process = exec.Exec(id, ["sh", "-c", "echo $SECRET_WORD; exit 7"], redirectStdin: false);
        var output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.Equal("swordfish\n", output);
        Assert.Equal(7, process.ExitCode);
        await runtime.StopAsync(id, 9, TimeSpan.Zero, CancellationToken.None);
    }

    [Fact]
    public async Task Exec_on_a_terminal_gets_its_size_input_and_exit_code()
    {
        var runtime = CreateRuntime();
        if (runtime is not IExecRuntime exec)
        {
            return;
        }
        var id = await StartAsync(runtime, Config("sleep 30"));
        using var terminal = exec.ExecTerminal(id, ["sh", "-c", "stty size; [ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo all-terminal; read word; echo got $word; exit 3"]);
        terminal.Resize(100, 30);
        var process = terminal.Start();
        var output = new MemoryStream();
        var buffer = new byte[4096];
        int n;
        while ((n = await terminal.Terminal.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(20))) > 0)
        {
            output.Write(buffer, 0, n);
            if (System.Text.Encoding.UTF8.GetString(output.ToArray()).EndsWith("all-terminal\r\n", StringComparison.Ordinal))
            {
                // Typed once the command waits for it, so that the echo comes in order.
                await terminal.Terminal.WriteAsync("hello\n"u8.ToArray());
            }
        }
        await process.WaitForExitAsync();
        var lines = System.Text.Encoding.UTF8.GetString(output.ToArray()).Split("\r\n");
        // The terminal echoes the input line, as a terminal does.
        Assert.Equal(["30 100", "all-terminal", "hello", "got hello", ""], lines);
        Assert.Equal(3, process.ExitCode);
        await runtime.StopAsync(id, 9, TimeSpan.Zero, CancellationToken.None);
    }

    [Fact]
    public async Task A_memory_limit_is_enforced_and_reported_as_oom_killed()
    {
        var runtime = CreateRuntime();
        if (!runtime.Capabilities.ResourceLimits)
        {
            return;
        }
        var config = Config("tail /dev/zero") with { MemoryBytes = 32 * 1024 * 1024 };
        var id = await StartAsync(runtime, config);
        var exit = await WaitAsync(runtime, id);
        Assert.Equal(137, exit.ExitCode);
        Assert.Equal("OOMKilled", exit.Reason);
    }

    protected static async Task Until(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met in time");
            await Task.Delay(20);
        }
    }

    public void Dispose()
    {
        foreach (var (runtime, id) in _started)
        {
            try
            {
                runtime.StopAsync(id, 9, TimeSpan.Zero, CancellationToken.None).Wait(TimeSpan.FromSeconds(10));
                runtime.DestroyAsync(id, CancellationToken.None).Wait();
            }
            catch (Exception e) when (e is AggregateException or KeyNotFoundException)
            {
            }
        }
        try
        {
            Directory.Delete(StateDir, recursive: true);
        }
        catch (IOException)
        {
        }
        GC.SuppressFinalize(this);
    }
}
