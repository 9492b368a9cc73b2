namespace Tugboat.ApiServer.Hosting;

/// <summary>The flags of <c>tug server</c>.</summary>
public sealed record ServerOptions
{
    public string DataDir { get; init; } = DefaultDataDir();
    public int Port { get; init; } = 6443;
    public string BindAddress { get; init; } = "127.0.0.1";
    public bool DisableAgent { get; init; }

    /// <summary>The embedded agent's node name (default: the host name).</summary>
    public string? NodeName { get; init; }

    /// <summary>The embedded agent's node address (default: the address of the interface with the default route).</summary>
    public string? NodeIp { get; init; }

    /// <summary>The port of the embedded agent's endpoint (upstream's kubelet port 10250; 0 picks a free one).</summary>
    public int KubeletPort { get; init; } = 10250;

    /// <summary>The ports of the embedded agent's Ingress controller (0 leaves one out).</summary>
    public int IngressHttpPort { get; init; } = 80;

    public int IngressHttpsPort { get; init; } = 443;

    /// <summary>How the embedded agent proxies Services: auto, nftables or userspace (<c>--proxy-mode</c>).</summary>
    public string ProxyMode { get; init; } = "auto";

    /// <summary>The cluster's pod range (k3s's default 10.42.0.0/16); nodes take /24s of it.</summary>
    public string ClusterCidr { get; init; } = "10.42.0.0/16";

    /// <summary>Run the API server alone, without the embedded controller manager.</summary>
    public bool DisableControllers { get; init; }
    public string Runtime { get; init; } = "auto";

    /// <summary>The CRI socket of an existing containerd for the embedded agent (unix:///…); null: the agent runs its own.</summary>
    public string? ContainerRuntimeEndpoint { get; init; }

    /// <summary>Empty or <c>sqlite://PATH</c> for SQLite (default <c>DATA/db/state.db</c>), <c>memory://</c> for a throw-away store.</summary>
    public string? DatastoreEndpoint { get; init; }

    /// <summary>How often old revisions are compacted (upstream's default is five minutes).</summary>
    public TimeSpan CompactionInterval { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>tolerationSeconds of the not-ready:NoExecute toleration every pod gets by default (upstream: 300).</summary>
    public int DefaultNotReadyTolerationSeconds { get; init; } = 300;

    /// <summary>tolerationSeconds of the unreachable:NoExecute toleration every pod gets by default (upstream: 300).</summary>
    public int DefaultUnreachableTolerationSeconds { get; init; } = 300;

    /// <summary>How long a node may go without a heartbeat before it is marked NotReady/Unknown (upstream: 40 s).</summary>
    public TimeSpan NodeMonitorGracePeriod { get; init; } = TimeSpan.FromSeconds(40);

    /// <summary>The cluster's service range (k3s's default 10.43.0.0/16): cluster IPs come from it, its first address is the API's.</summary>
    public string ServiceCidr { get; init; } = "10.43.0.0/16";

    /// <summary>Finished pods kept before the pod garbage collector deletes the oldest (upstream: 12,500; 0 keeps all).</summary>
    public int TerminatedPodGcThreshold { get; init; } = 12_500;

    /// <summary>Upstream's <c>--max-requests-inflight</c>: with the mutating limit, the seats shared out among priority levels.</summary>
    public int MaxRequestsInflight { get; init; } = 400;

    /// <summary>Upstream's <c>--max-mutating-requests-inflight</c>; both limits 0 turn flow control off.</summary>
    public int MaxMutatingRequestsInflight { get; init; } = 200;

    public static string DefaultDataDir() =>
        Environment.UserName == "root" || Environment.GetEnvironmentVariable("HOME") is null
            ? "/var/lib/tugboat"
            : Path.Combine(Environment.GetEnvironmentVariable("HOME")!, ".tugboat");
}
