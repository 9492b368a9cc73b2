using Microsoft.Extensions.Logging;
using Tugboat.Agent.Kubelet;
using Tugboat.Agent.Runtime;
using Tugboat.Agent.Runtimes.Cri;
using Tugboat.Agent.Runtimes.Cri.Images;

namespace Tugboat.Agent.Runtimes;

/// <summary>
/// Chooses and starts the node's runtime from <see cref="AgentOptions.Runtime"/>: the process runtime, or containerd
/// through the CRI (the agent's own containerd, or an existing one at <see cref="AgentOptions.ContainerRuntimeEndpoint"/>).
/// </summary>
public static partial class RuntimeChoice
{
    /// <summary>The runtime, the options it needs the agent to run with, and what to dispose when the agent ends.</summary>
    public static async Task<(IContainerRuntime Runtime, AgentOptions Options, IAsyncDisposable? Owner)> StartAsync(AgentOptions options, ILogger logger, CancellationToken ct)
    {
        if (options.Runtime == "auto" && options.ContainerRuntimeEndpoint is null)
        {
            // Images when the machine can run them (containerd, runc and catatonit installed, and root); commands otherwise.
            var missing = new[] { "/usr/bin/containerd", "/usr/bin/ctr", "/usr/sbin/runc", SandboxImages.Catatonit }.Where(f => !File.Exists(f)).ToList();
            if (missing.Count > 0 || Environment.UserName != "root")
            {
                LogAutoProcess(logger, missing.Count > 0 ? "missing " + string.Join(", ", missing) + " (Debian: apt install containerd runc catatonit)" : "not running as root");
                options = options with { Runtime = "process" };
            }
            else
            {
                options = options with { Runtime = "containerd" };
            }
        }
        if (options.Runtime == "process")
        {
            return (new Process.ProcessRuntime(Path.Combine(options.DataDir, "runtime"), HiddenPaths(options.DataDir)), options, null);
        }
        var cniConfDir = Path.Combine(options.DataDir, "cni", "net.d");
        Containerd? managed = null;
        CriClient client;
        if (options.ContainerRuntimeEndpoint is { } endpoint)
        {
            client = new CriClient(endpoint);
        }
        else
        {
            if (!File.Exists("/usr/bin/containerd"))
            {
                throw new InvalidOperationException("--runtime containerd: /usr/bin/containerd is not installed (Debian: apt install containerd runc catatonit); the process runtime works without it (--runtime process)");
            }
            var handlers = new List<(string, string)> { ("runc", "/usr/sbin/runc") };
            if (File.Exists("/usr/bin/crun"))
            {
                // crun refuses hybrid cgroup hierarchies (v1 controllers with an empty v2 mount at /sys/fs/cgroup/unified).
                if (Directory.Exists("/sys/fs/cgroup/unified") && File.Exists("/sys/fs/cgroup/memory/memory.limit_in_bytes"))
                {
                    LogCrunUnusable(logger);
                }
                else
                {
                    handlers.Add(("crun", "/usr/bin/crun"));
                }
            }
            // registries.yaml beside the server's data (DATA/registries.yaml for the embedded agent), or in the agent's own directory.
            var registriesFile = new[] { Path.Combine(Path.GetDirectoryName(Path.GetFullPath(options.DataDir))!, "registries.yaml"), Path.Combine(options.DataDir, "registries.yaml") }
                .FirstOrDefault(File.Exists);
            managed = new Containerd(new ContainerdOptions
            {
                Directory = Path.Combine(options.DataDir, "containerd"),
                CniConfDir = cniConfDir,
                Handlers = handlers,
                Registries = registriesFile is null ? Registries.Empty : Registries.Load(registriesFile, logger),
            }, logger);
            client = await managed.StartAsync(ct).ConfigureAwait(false);
        }
        var version = await client.VersionAsync(ct).ConfigureAwait(false);
        await EnsureSandboxImageAsync(client, managed?.Socket, options.DataDir, ct).ConfigureAwait(false);
        Task watching = Task.CompletedTask;
        var stopWatching = new CancellationTokenSource();
        if (managed is not null)
        {
            var folder = new ImageFolder(Path.Combine(options.DataDir, "images"), managed.Socket, logger);
            await folder.ImportNewAsync(ct, atStart: true).ConfigureAwait(false);
            watching = folder.WatchAsync(stopWatching.Token);
        }
        // Image garbage collection at the kubelet's thresholds, for the node's own containerd and an existing one alike.
        var collecting = new ImageGarbageCollector(client, SandboxImages.Name, logger).RunAsync(stopWatching.Token);
        var runtime = new CriRuntime(client, version, logger);
        return (runtime, options with { CniConfDir = options.ContainerRuntimeEndpoint is null ? cniConfDir : options.CniConfDir }, new Owner(runtime, client, managed, Task.WhenAll(watching, collecting), stopWatching));
    }

    /// <summary>
    /// What process pods must not see: the agent's data directory, and the server's around it (the embedded agent's is
    /// DATA/agent; the server's DATA holds the token, kubeconfig, keys and database).
    /// </summary>
    public static IReadOnlyList<string> HiddenPaths(string agentDataDir)
    {
        var agent = Path.GetFullPath(agentDataDir);
        var parent = Path.GetDirectoryName(agent);
        return parent is not null && (File.Exists(Path.Combine(parent, "token")) || File.Exists(Path.Combine(parent, "kubeconfig.yaml"))) ? [parent] : [agent];
    }

    /// <summary>Ends the agent's containerd and everything it runs (<c>tug killall</c>); nothing happens on a node without one.</summary>
    public static Task KillAllAsync(string agentDir, CancellationToken ct) => Containerd.KillAllAsync(Path.Combine(agentDir, "containerd"), ct);

    /// <summary>The sandbox image, built from the node's static catatonit and imported when containerd lacks it.</summary>
    private static async Task EnsureSandboxImageAsync(CriClient client, string? socket, string dataDir, CancellationToken ct)
    {
        var status = await client.Images.ImageStatusAsync(new Cri.Api.ImageStatusRequest { Image = new Cri.Api.ImageSpec { Image = SandboxImages.Name } }, CriClient.Options(ct)).ConfigureAwait(false);
        if (status.Image is not null || socket is null)
        {
            return;
        }
        if (!File.Exists(SandboxImages.Catatonit))
        {
            throw new InvalidOperationException($"the sandbox image {SandboxImages.Name} is built from {SandboxImages.Catatonit}, which is not installed (Debian: apt install catatonit)");
        }
        var archive = Path.Combine(dataDir, "containerd", "pause.tar");
        SandboxImages.Archive().Write(archive);
        await ImageImporter.ImportAsync(socket, archive, ct).ConfigureAwait(false);
    }

    private sealed class Owner(CriRuntime runtime, CriClient client, Containerd? managed, Task watching, CancellationTokenSource stopWatching) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await stopWatching.CancelAsync().ConfigureAwait(false);
            await watching.ConfigureAwait(false);
            stopWatching.Dispose();
            runtime.Dispose();
            client.Dispose();
            if (managed is not null)
            {
                // containerd and the pods' containers keep running: a restarted agent adopts them.
                await managed.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "runtime: process (pods run their command on the host; images need containerd: {Why})")]
    private static partial void LogAutoProcess(ILogger logger, string why);

    [LoggerMessage(Level = LogLevel.Information, Message = "crun is installed but cannot run containers on this machine's hybrid cgroup hierarchy; RuntimeClass handler crun is not offered (runc is)")]
    private static partial void LogCrunUnusable(ILogger logger);

}
