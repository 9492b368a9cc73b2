using Microsoft.Extensions.Logging.Abstractions;
using Tugboat.Agent.Kubelet;
using Tugboat.Agent.Runtime;
using Tugboat.Agent.Runtimes.Cri;
using Tugboat.Agent.Tests.Runtime;

namespace Tugboat.Agent.Tests.Runtimes.Cri;

/// <summary>The runtime conformance suite on containerd through the CRI, each container in one test pod's sandbox (host network).</summary>
public sealed class CriRuntimeTests(ContainerdFixture containerd) : RuntimeConformanceTests, IClassFixture<ContainerdFixture>
{
    private readonly string _podUid = Guid.NewGuid().ToString();

    protected override bool SharesHostPids => false;

    protected override bool CreatesMissingWorkingDirectory => true;

    protected override IContainerRuntime CreateRuntime() =>
        new InPod(new CriRuntime(containerd.Client, new Tugboat.Agent.Runtimes.Cri.Api.VersionResponse { RuntimeName = "containerd", RuntimeVersion = "test" }, NullLogger.Instance), _podUid, StateDir);

    /// <summary>
    /// The agent's part for the suite: the sandbox of a pod (created on the first start, found again by a new runtime
    /// instance), the pod's labels and the image on every container.
    /// </summary>
    private sealed class InPod(CriRuntime inner, string podUid, string logDirectory) : IContainerRuntime
    {
        private int _started;

        public string Name => inner.Name;

        public string Version => inner.Version;

        public RuntimeCapabilities Capabilities => inner.Capabilities;

        public async Task<string> StartAsync(ContainerConfig config, CancellationToken ct)
        {
            await inner.RunSandboxAsync(new SandboxConfig { PodUid = podUid, PodName = "conformance", PodNamespace = "default", HostNetwork = true, LogDirectory = logDirectory }, ct);
            var labels = new Dictionary<string, string>(config.Labels)
            {
                [NodeAgent.PodUidLabel] = podUid,
                [NodeAgent.ContainerLabel] = "c" + Interlocked.Increment(ref _started),
            };
            return await inner.StartAsync(config with { Labels = labels, Image = ContainerdFixture.Busybox }, ct);
        }

        public Task<ContainerExit> WaitAsync(string id, CancellationToken ct) => inner.WaitAsync(id, ct);

        public Task<ContainerExit> StopAsync(string id, int signal, TimeSpan timeout, CancellationToken ct) => inner.StopAsync(id, signal, timeout, ct);

        public Task DestroyAsync(string id, CancellationToken ct) => inner.DestroyAsync(id, ct);

        public IReadOnlyList<ContainerInfo> List() => inner.List();

        public ContainerInfo? Inspect(string id) => inner.Inspect(id);

        public IReadOnlyList<ContainerInfo> Recover() => inner.Recover();
    }
}
