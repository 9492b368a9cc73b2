using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using Tugboat.Agent.Runtimes.Cri;
using Tugboat.Agent.Runtimes.Cri.Images;

namespace Tugboat.Agent.Tests.Runtimes.Cri;

/// <summary>
/// A containerd of the tests' own (root, state, socket and stream port in a temporary directory), with the sandbox
/// image and a busybox image built offline from the machine's static catatonit and busybox and imported into it.
/// </summary>
public sealed class ContainerdFixture : IAsyncLifetime
{
    public const string Busybox = "docker.io/library/busybox:1.35";

    private Containerd? _containerd;

    public string Directory { get; } = System.IO.Directory.CreateTempSubdirectory("tug-cri-").FullName;

    internal CriClient Client { get; private set; } = null!;

    internal string Socket => _containerd!.Socket;

    public async Task InitializeAsync()
    {
        foreach (var needed in new[] { "/usr/bin/containerd", "/usr/bin/ctr", "/usr/sbin/runc", SandboxImages.Catatonit, "/bin/busybox" })
        {
            if (!File.Exists(needed))
            {
                throw new InvalidOperationException($"{needed} is missing: the CRI tests need Debian's containerd, runc, catatonit and busybox-static (.ci/run installs them)");
            }
        }
        var cni = Path.Combine(Directory, "net.d");
        System.IO.Directory.CreateDirectory(cni);
        _containerd = new Containerd(new ContainerdOptions
        {
            Directory = Path.Combine(Directory, "containerd"),
            CniConfDir = cni,
            StreamPort = FreePort(),
        }, NullLogger.Instance);
        Client = await _containerd.StartAsync(CancellationToken.None);
        var sandbox = Path.Combine(Directory, "pause.tar");
        SandboxImages.Archive().Write(sandbox);
        await ImageImporter.ImportAsync(Socket, sandbox, CancellationToken.None);
        var busybox = Path.Combine(Directory, "busybox.tar");
        BusyboxImage().Write(busybox);
        await ImageImporter.ImportAsync(Socket, busybox, CancellationToken.None);
    }

    /// <summary>busybox-static with a link per applet, /bin/sh as the command (as the Docker Hub image).</summary>
    internal static ImageArchive BusyboxImage(string name = Busybox)
    {
        var image = new ImageArchive { Name = name, Cmd = ["sh"] }.AddFile("bin/busybox", "/bin/busybox").AddDirectory("tmp", (UnixFileMode)0b111_111_111);
        foreach (var applet in new[] { "sh", "echo", "cat", "sleep", "ls", "id", "touch", "printf", "env", "hostname", "httpd", "wget", "head", "tail", "dd" })
        {
            image.AddSymlink("bin/" + applet, "busybox");
        }
        return image;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async Task DisposeAsync()
    {
        if (_containerd is null)
        {
            return;
        }
        // Sandboxes the tests left are removed with their containers and shims before containerd stops.
        try
        {
            var sandboxes = await Client.Runtime.ListPodSandboxAsync(new Tugboat.Agent.Runtimes.Cri.Api.ListPodSandboxRequest());
            foreach (var s in sandboxes.Items)
            {
                await Client.Runtime.StopPodSandboxAsync(new() { PodSandboxId = s.Id });
                await Client.Runtime.RemovePodSandboxAsync(new() { PodSandboxId = s.Id });
            }
        }
        finally
        {
            Client.Dispose();
            await _containerd.TerminateAsync(TimeSpan.FromSeconds(10));
            await _containerd.DisposeAsync();
            await UnmountAsync(Directory);
            Containerd.RemoveEmptyRunDirectories();
            try
            {
                System.IO.Directory.Delete(Directory, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    /// <summary>Unmounts what containerd left mounted below <paramref name="dir"/> (snapshots, sandbox /dev/shm), deepest first.</summary>
    private static async Task UnmountAsync(string dir)
    {
        var mounts = File.ReadAllLines("/proc/self/mounts").Select(l => l.Split(' ')[1]).Where(p => p.StartsWith(dir, StringComparison.Ordinal)).OrderByDescending(p => p.Length);
        foreach (var m in mounts)
        {
            using var p = System.Diagnostics.Process.Start("umount", ["-l", m]);
            await p.WaitForExitAsync();
        }
    }
}
