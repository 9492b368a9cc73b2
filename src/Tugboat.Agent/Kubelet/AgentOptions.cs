using System.Net;

namespace Tugboat.Agent.Kubelet;

/// <summary>How a node agent runs (the flags of <c>tug agent</c>, or what <c>tug server</c> gives its embedded agent).</summary>
public sealed record AgentOptions
{
    /// <summary>The node's name (default: the machine's host name, lower-cased).</summary>
    public string NodeName { get; init; } = Dns.GetHostName().ToLowerInvariant();

    /// <summary>Where the agent keeps pod directories, logs, runtime and network state.</summary>
    public required string DataDir { get; init; }

    /// <summary>The node's address (InternalIP); default: the address of the interface with the default route, else 127.0.0.1.</summary>
    public string? NodeIp { get; init; }

    /// <summary>The port of the agent's HTTPS endpoint that the API server calls for logs, exec and port-forward (upstream: 10250).</summary>
    public int KubeletPort { get; init; } = 10250;

    /// <summary>The token the API server presents to the agent's endpoint (the node join token).</summary>
    public required string Token { get; init; }

    /// <summary>The cluster's pod range; each node takes a free /24 of it.</summary>
    public IPNetwork ClusterCidr { get; init; } = IPNetwork.Parse("10.42.0.0/16");

    public IPNetwork ServiceCidr { get; init; } = IPNetwork.Parse("10.43.0.0/16");

    /// <summary>
    /// The cluster DNS address written into pods' resolv.conf; null means the service range's first address plus ten.
    /// Used only where the node proxies services (root, CNI plugins and nftables); elsewhere pods use the node's
    /// resolvers, as upstream's kubelet does without clusterDNS.
    /// </summary>
    public string? ClusterDns { get; init; }

    public string ClusterDomain { get; init; } = "cluster.local";

    /// <summary>The ports the node's Ingress controller serves HTTP and HTTPS on (0 leaves one out; both 0: no ingress).</summary>
    public int IngressHttpPort { get; init; } = 80;

    public int IngressHttpsPort { get; init; } = 443;

    /// <summary>How the node proxies Services: nftables where it can (root, pod network, nft), else the userspace proxy.</summary>
    public Tugboat.Network.Proxy.ProxyMode ProxyMode { get; init; } = Tugboat.Network.Proxy.ProxyMode.Auto;

    /// <summary>Labels the node carries (the embedded agent marks its node as the control plane).</summary>
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    /// <summary>Which runtime runs pods: process (commands on the host), containerd (images through the CRI), or auto.</summary>
    public string Runtime { get; init; } = "auto";

    /// <summary>The CRI socket of a containerd to use instead of the agent's own (unix:///…); null: the agent runs one.</summary>
    public string? ContainerRuntimeEndpoint { get; init; }

    /// <summary>Where a runtime that runs the CNI plugins itself (containerd) reads the pod network's configuration; null for none.</summary>
    public string? CniConfDir { get; init; }

    /// <summary>How long the node's Lease lasts (upstream nodeLeaseDurationSeconds: 40); renewed every quarter.</summary>
    public int LeaseDurationSeconds { get; init; } = 40;
}
