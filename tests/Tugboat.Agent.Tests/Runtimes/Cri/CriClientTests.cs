using System.Text;
using Tugboat.Agent.Runtimes.Cri;
using Tugboat.Agent.Runtimes.Cri.Api;

namespace Tugboat.Agent.Tests.Runtimes.Cri;

/// <summary>The CRI client against a real containerd started by the tests: version, pod sandboxes, containers from an imported image.</summary>
public sealed class CriClientTests(ContainerdFixture containerd) : IClassFixture<ContainerdFixture>
{
    private RuntimeService.RuntimeServiceClient Runtime => containerd.Client.Runtime;

    private static PodSandboxConfig Sandbox(string name, string logDir) => new()
    {
        Metadata = new PodSandboxMetadata { Name = name, Namespace = "default", Uid = Guid.NewGuid().ToString() },
        LogDirectory = logDir,
        Linux = new LinuxPodSandboxConfig
        {
            // The node's network: these tests need no CNI.
            SecurityContext = new LinuxSandboxSecurityContext { NamespaceOptions = new NamespaceOption { Network = NamespaceMode.Node, Pid = NamespaceMode.Container } },
        },
    };

    private async Task<(string Id, PodSandboxConfig Config)> RunSandboxAsync(string name)
    {
        var logDir = Path.Combine(containerd.Directory, "pods", name);
        Directory.CreateDirectory(logDir);
        var config = Sandbox(name, logDir);
        var id = (await Runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = config })).PodSandboxId;
        return (id, config);
    }

    private async Task<string> StartContainerAsync(string sandbox, PodSandboxConfig sandboxConfig, string name, params string[] args)
    {
        var config = new ContainerConfig
        {
            Metadata = new ContainerMetadata { Name = name },
            Image = new ImageSpec { Image = ContainerdFixture.Busybox },
            LogPath = name + ".log",
            Envs = { new KeyValue { Key = "GREETING", Value = "hello" } },
        };
        config.Args.AddRange(args);
        var id = (await Runtime.CreateContainerAsync(new CreateContainerRequest { PodSandboxId = sandbox, Config = config, SandboxConfig = sandboxConfig })).ContainerId;
        await Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = id });
        return id;
    }

    private async Task<ContainerStatus> WaitExitedAsync(string id)
    {
        for (var i = 0; i < 300; i++)
        {
            var status = (await Runtime.ContainerStatusAsync(new ContainerStatusRequest { ContainerId = id })).Status;
            if (status.State == ContainerState.ContainerExited)
            {
                return status;
            }
            await Task.Delay(100);
        }
        throw new TimeoutException($"container {id} did not exit");
    }

    [Fact]
    public async Task Version_names_containerd()
    {
        var version = await containerd.Client.VersionAsync(CancellationToken.None);
        Assert.Equal("containerd", version.RuntimeName);
        Assert.Equal("v1", version.RuntimeApiVersion);
        Assert.False(string.IsNullOrEmpty(version.RuntimeVersion));
    }

    [Fact]
    public async Task A_container_from_the_image_runs_its_args_logs_in_cri_format_and_reports_its_exit_code()
    {
        var (sandbox, config) = await RunSandboxAsync("exit-code");
        var id = await StartContainerAsync(sandbox, config, "main", "sh", "-c", "echo $GREETING from the image; echo oops >&2; exit 3");
        var status = await WaitExitedAsync(id);
        Assert.Equal(3, status.ExitCode);
        Assert.Equal("Error", status.Reason);
        var log = await File.ReadAllLinesAsync(status.LogPath);
        Assert.Contains(log, l => l.EndsWith(" stdout F hello from the image", StringComparison.Ordinal));
        Assert.Contains(log, l => l.EndsWith(" stderr F oops", StringComparison.Ordinal));
        await Runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = sandbox });
        await Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = sandbox });
        var left = await Runtime.ListContainersAsync(new ListContainersRequest { Filter = new ContainerFilter { PodSandboxId = sandbox } });
        Assert.Empty(left.Containers);
    }

    [Fact]
    public async Task ExecSync_runs_in_a_running_container_and_a_stop_ends_it()
    {
        var (sandbox, config) = await RunSandboxAsync("exec");
        // It ignores SIGTERM: the stop's timeout ends it with SIGKILL.
        var id = await StartContainerAsync(sandbox, config, "sleeper", "sh", "-c", "trap '' TERM; while true; do sleep 1; done");
        var result = await Runtime.ExecSyncAsync(new ExecSyncRequest { ContainerId = id, Cmd = { "sh", "-c", "echo in-container; exit 7" }, Timeout = 10 });
        Assert.Equal(7, result.ExitCode);
        Assert.Equal("in-container\n", Encoding.UTF8.GetString(result.Stdout.Span));
        await Runtime.StopContainerAsync(new StopContainerRequest { ContainerId = id, Timeout = 1 });
        var status = await WaitExitedAsync(id);
        Assert.Equal(137, status.ExitCode);
        await Runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = sandbox });
        await Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = sandbox });
    }

    [Fact]
    public async Task Images_are_listed_with_their_names_and_sizes()
    {
        var images = await containerd.Client.Images.ListImagesAsync(new ListImagesRequest());
        var busybox = Assert.Single(images.Images, i => i.RepoTags.Contains(ContainerdFixture.Busybox));
        Assert.True(busybox.Size > 1_000_000);
        Assert.Contains(images.Images, i => i.RepoTags.Contains(Tugboat.Agent.Runtimes.Cri.Images.SandboxImages.Name));
    }

    [Fact]
    public async Task A_missing_image_is_not_found()
    {
        var status = await containerd.Client.Images.ImageStatusAsync(new ImageStatusRequest { Image = new ImageSpec { Image = "docker.io/library/nothing-here:1" } });
        Assert.Null(status.Image);
    }
}
