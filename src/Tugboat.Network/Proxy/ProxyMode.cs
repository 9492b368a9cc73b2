namespace Tugboat.Network.Proxy;

/// <summary>How a node proxies Services (<c>--proxy-mode</c>).</summary>
public enum ProxyMode
{
    /// <summary>nftables when the node can use it (root, CNI pod network, the nft tool), the userspace proxy otherwise.</summary>
    Auto,

    /// <summary>The kernel data path: one nftables table of DNAT rules per node.</summary>
    Nftables,

    /// <summary>Sockets in the agent relaying connections and datagrams (<see cref="UserspaceProxy"/>).</summary>
    Userspace,
}
