using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;

namespace Tugboat.Network.Proxy;

/// <summary>
/// The service proxy's userspace data path, for machines where the kernel one cannot be used (no nftables, or no
/// root): a socket per served address and port that accepts connections (TCP) or datagrams (UDP) and relays them to
/// an endpoint it picks at random (or the client's, with ClientIP affinity), the way upstream's userspace proxy did.
/// A port is listened on only while it has endpoints, so that a Service without ready endpoints refuses connections
/// as the kernel path does. Clients are seen by the pods as the node (no source address is kept); SCTP is not relayed.
/// </summary>
public sealed class UserspaceProxy : IDisposable
{
    private readonly Dictionary<(IPAddress Address, int Port, string Protocol), Frontend> _frontends = [];
    private readonly HashSet<string> _reported = [];
    private bool _disposed;

    /// <summary>Serve the Services' cluster IPs (needs the service range routed locally); false serves node ports and local external IPs only.</summary>
    public bool ServeClusterIps { get; init; } = true;

    /// <summary>How long a UDP client's relay socket lives without traffic.</summary>
    public TimeSpan UdpIdleTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long connecting to one endpoint may take before another is tried.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>Called with a description of what went wrong (for the owner's log); never throws into the proxy.</summary>
    public Action<string>? OnError { get; init; }

    /// <summary>The local IPv4 addresses of the machine (node ports over UDP are bound on each, so replies leave from the address asked).</summary>
    public Func<IReadOnlyList<IPAddress>> LocalAddresses { get; init; } = MachineAddresses;

    /// <summary>The addresses and ports listened on now, for inspection.</summary>
    public IReadOnlyList<(IPAddress Address, int Port, string Protocol)> Listening
    {
        get
        {
            lock (_frontends)
            {
                return _frontends.Keys.ToList();
            }
        }
    }

    /// <summary>Makes the listening sockets and their endpoints those of <paramref name="ports"/>; listeners that stay keep their connections.</summary>
    public void Apply(IReadOnlyList<ProxyPort> ports)
    {
        var wanted = new Dictionary<(IPAddress, int, string), Backends>();
        var local = new Lazy<IReadOnlyList<IPAddress>>(LocalAddresses);
        foreach (var port in ports)
        {
            if (port.Protocol is not ("TCP" or "UDP"))
            {
                Report($"{port.Namespace}/{port.Service}:{port.Port}/{port.Protocol}", $"service {port.Namespace}/{port.Service} port {port.Port}/{port.Protocol}: the userspace proxy relays TCP and UDP only");
                continue;
            }
            if (ServeClusterIps && port.ClusterEndpoints.Count > 0)
            {
                foreach (var ip in port.ClusterIps)
                {
                    wanted[(IPAddress.Parse(ip), port.Port, port.Protocol)] = new Backends(port.ClusterEndpoints, port.AffinitySeconds);
                }
            }
            if (port.ExternalEndpoints.Count == 0)
            {
                continue;
            }
            var external = new Backends(port.ExternalEndpoints, port.AffinitySeconds);
            if (port.NodePort > 0)
            {
                // TCP answers on every address at once; UDP replies must leave from the address the client asked.
                foreach (var address in port.Protocol == "TCP" ? [IPAddress.Any] : local.Value)
                {
                    wanted[(address, port.NodePort, port.Protocol)] = external;
                }
            }
            foreach (var ip in port.ExternalIps.Select(IPAddress.Parse).Where(a => local.Value.Contains(a)))
            {
                wanted.TryAdd((ip, port.Port, port.Protocol), external);
            }
        }
        lock (_frontends)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            foreach (var key in _frontends.Keys.Where(k => !wanted.ContainsKey(k)).ToList())
            {
                _frontends.Remove(key, out var gone);
                gone!.Dispose();
            }
            foreach (var (key, backends) in wanted)
            {
                if (_frontends.TryGetValue(key, out var existing))
                {
                    existing.Backends = backends;
                    continue;
                }
                try
                {
                    Frontend frontend = key.Item3 == "TCP" ? new TcpFrontend(this, new IPEndPoint(key.Item1, key.Item2), backends) : new UdpFrontend(this, new IPEndPoint(key.Item1, key.Item2), backends);
                    _frontends[key] = frontend;
                    _reported.Remove($"{key.Item1}:{key.Item2}/{key.Item3}");
                    frontend.Start();
                }
                catch (SocketException e)
                {
                    Report($"{key.Item1}:{key.Item2}/{key.Item3}", $"cannot listen on {key.Item1}:{key.Item2}/{key.Item3}: {e.Message}");
                }
            }
        }
    }

    public void Dispose()
    {
        lock (_frontends)
        {
            _disposed = true;
            foreach (var frontend in _frontends.Values)
            {
                frontend.Dispose();
            }
            _frontends.Clear();
        }
    }

    /// <summary>The machine's IPv4 addresses (loopback included).</summary>
    public static IReadOnlyList<IPAddress> MachineAddresses() =>
        NetworkInterface.GetAllNetworkInterfaces().SelectMany(i => i.GetIPProperties().UnicastAddresses)
            .Select(u => u.Address).Where(a => a.AddressFamily == AddressFamily.InterNetwork).Distinct().ToList();

    private void Report(string key, string message)
    {
        lock (_reported)
        {
            if (!_reported.Add(key))
            {
                return;
            }
        }
        OnError?.Invoke(message);
    }

    /// <summary>The endpoints of one served address, with ClientIP affinity when the Service asks for it.</summary>
    private sealed class Backends(IReadOnlyList<ProxyEndpoint> endpoints, int affinitySeconds)
    {
        public IReadOnlyList<ProxyEndpoint> Endpoints { get; } = endpoints;

        public int AffinitySeconds { get; } = affinitySeconds;
    }

    private abstract class Frontend(UserspaceProxy owner, IPEndPoint address, Backends backends) : IDisposable
    {
        private readonly ConcurrentDictionary<IPAddress, (ProxyEndpoint Endpoint, long Until)> _affinity = new();
        private volatile Backends _backends = backends;

        protected readonly CancellationTokenSource Stopping = new();

        protected UserspaceProxy Owner { get; } = owner;

        protected IPEndPoint Address { get; } = address;

        public Backends Backends
        {
            get => _backends;
            set
            {
                _backends = value;
                EndpointsChanged(value.Endpoints);
            }
        }

        /// <summary>The served endpoints changed (the listener stays).</summary>
        protected virtual void EndpointsChanged(IReadOnlyList<ProxyEndpoint> endpoints)
        {
        }

        public abstract void Start();

        /// <summary>A socket bound to <paramref name="address"/> (reusable at once after a listener goes), or the bind's error.</summary>
        protected static Socket Bound(SocketType type, ProtocolType protocol, IPEndPoint address)
        {
            var socket = new Socket(AddressFamily.InterNetwork, type, protocol);
            try
            {
                socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                socket.Bind(address);
                return socket;
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }

        /// <summary>
        /// The endpoint for a client: its remembered one while the affinity lasts and the endpoint is still there,
        /// otherwise one at random (leaving out those that already failed for this connection).
        /// </summary>
        protected ProxyEndpoint? Pick(IPAddress client, ICollection<ProxyEndpoint> failed)
        {
            var backends = _backends;
            var now = Environment.TickCount64;
            if (backends.AffinitySeconds > 0 && _affinity.TryGetValue(client, out var kept) && kept.Until > now
                && !failed.Contains(kept.Endpoint) && backends.Endpoints.Contains(kept.Endpoint))
            {
                _affinity[client] = (kept.Endpoint, now + (backends.AffinitySeconds * 1000L));
                return kept.Endpoint;
            }
            var candidates = failed.Count == 0 ? backends.Endpoints : backends.Endpoints.Where(e => !failed.Contains(e)).ToList();
            if (candidates.Count == 0)
            {
                return null;
            }
            var chosen = candidates[Random.Shared.Next(candidates.Count)];
            if (backends.AffinitySeconds > 0)
            {
                _affinity[client] = (chosen, now + (backends.AffinitySeconds * 1000L));
            }
            return chosen;
        }

        public virtual void Dispose()
        {
            Stopping.Cancel();
        }
    }

    private sealed class TcpFrontend : Frontend
    {
        private readonly Socket _listener;

        public TcpFrontend(UserspaceProxy owner, IPEndPoint address, Backends backends)
            : base(owner, address, backends)
        {
            _listener = Bound(SocketType.Stream, ProtocolType.Tcp, address);
            try
            {
                _listener.Listen(512);
            }
            catch
            {
                _listener.Dispose();
                throw;
            }
        }

        public override void Start() => _ = Task.Run(AcceptLoopAsync);

        private async Task AcceptLoopAsync()
        {
            while (!Stopping.IsCancellationRequested)
            {
                Socket client;
                try
                {
                    client = await _listener.AcceptAsync(Stopping.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException || (e is SocketException && Stopping.IsCancellationRequested))
                {
                    return;
                }
                catch (SocketException e)
                {
                    // Out of descriptors and the like: say so and keep accepting.
                    Owner.OnError?.Invoke($"accepting on {Address}: {e.Message}");
                    await Task.Delay(100).ConfigureAwait(false);
                    continue;
                }
                _ = Task.Run(() => RelayAsync(client));
            }
        }

        private async Task RelayAsync(Socket client)
        {
            using var _ = client;
            client.NoDelay = true;
            var failed = new List<ProxyEndpoint>();
            Socket? backend = null;
            var clientAddress = ((IPEndPoint)client.RemoteEndPoint!).Address;
            // Like upstream's userspace proxy: an endpoint that does not answer is left out and another one tried.
            while (backend is null && failed.Count < 3 && Pick(clientAddress, failed) is { } endpoint)
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Stopping.Token);
                timeout.CancelAfter(Owner.ConnectTimeout);
                try
                {
                    await socket.ConnectAsync(IPAddress.Parse(endpoint.Ip), endpoint.Port, timeout.Token).ConfigureAwait(false);
                    backend = socket;
                }
                catch (Exception e) when (e is SocketException or OperationCanceledException)
                {
                    socket.Dispose();
                    failed.Add(endpoint);
                    if (Stopping.IsCancellationRequested)
                    {
                        break;
                    }
                }
            }
            if (backend is null)
            {
                Reset(client);
                return;
            }
            // Connections outlive their listener (a Service that loses its last endpoint stops accepting, but what was
            // accepted drains as the kernel path's tracked connections do).
            using (backend)
            {
                await Task.WhenAll(PumpAsync(client, backend), PumpAsync(backend, client)).ConfigureAwait(false);
            }
        }

        /// <summary>Copies one direction; end of input is passed on as a half-close, a failure resets both sides.</summary>
        private static async Task PumpAsync(Socket from, Socket to)
        {
            var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
            try
            {
                while (true)
                {
                    var read = await from.ReceiveAsync(buffer, SocketFlags.None).ConfigureAwait(false);
                    if (read == 0)
                    {
                        to.Shutdown(SocketShutdown.Send);
                        return;
                    }
                    await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                Reset(from);
                Reset(to);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        /// <summary>Closes with a reset (linger 0), as a refused or broken connection should look to its peer.</summary>
        private static void Reset(Socket socket)
        {
            try
            {
                socket.LingerState = new LingerOption(true, 0);
                socket.Close();
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
            }
        }

        public override void Dispose()
        {
            base.Dispose();
            _listener.Dispose();
        }
    }

    private sealed class UdpFrontend : Frontend
    {
        private readonly Socket _socket;
        private readonly ConcurrentDictionary<IPEndPoint, Session> _sessions = new();

        public UdpFrontend(UserspaceProxy owner, IPEndPoint address, Backends backends)
            : base(owner, address, backends)
        {
            _socket = Bound(SocketType.Dgram, ProtocolType.Udp, address);
        }

        public override void Start()
        {
            _ = Task.Run(ReceiveLoopAsync);
            _ = Task.Run(ExpireLoopAsync);
        }

        private async Task ReceiveLoopAsync()
        {
            var buffer = new byte[65536];
            EndPoint any = new IPEndPoint(IPAddress.Any, 0);
            while (!Stopping.IsCancellationRequested)
            {
                SocketReceiveFromResult received;
                try
                {
                    received = await _socket.ReceiveFromAsync(buffer, SocketFlags.None, any, Stopping.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException || (e is SocketException && Stopping.IsCancellationRequested))
                {
                    return;
                }
                catch (SocketException)
                {
                    // An ICMP error for an earlier reply (ECONNREFUSED on Linux); the socket stays usable.
                    continue;
                }
                var client = (IPEndPoint)received.RemoteEndPoint;
                if (!_sessions.TryGetValue(client, out var session) || !session.Alive)
                {
                    if (Pick(client.Address, []) is not { } endpoint)
                    {
                        continue;
                    }
                    session = new Session(this, client, endpoint);
                    _sessions[client] = session;
                    session.Start();
                }
                session.Touch();
                try
                {
                    await session.Socket.SendAsync(buffer.AsMemory(0, received.ReceivedBytes), SocketFlags.None).ConfigureAwait(false);
                }
                catch (SocketException)
                {
                    // The endpoint refused (ICMP) an earlier datagram: this client starts over with another pick.
                    session.Dispose();
                    _sessions.TryRemove(client, out _);
                }
            }
        }

        private async Task ExpireLoopAsync()
        {
            using var timer = new PeriodicTimer(TimeSpan.FromSeconds(Math.Max(1, Owner.UdpIdleTimeout.TotalSeconds / 4)));
            try
            {
                while (await timer.WaitForNextTickAsync(Stopping.Token).ConfigureAwait(false))
                {
                    var limit = Environment.TickCount64 - (long)Owner.UdpIdleTimeout.TotalMilliseconds;
                    foreach (var (client, session) in _sessions)
                    {
                        if (session.LastActive < limit || !session.Alive)
                        {
                            _sessions.TryRemove(client, out _);
                            session.Dispose();
                        }
                    }
                }
            }
            catch (OperationCanceledException)
            {
            }
        }

        /// <summary>Clients relayed to an endpoint that went start over with another one (as kube-proxy clears UDP flows).</summary>
        protected override void EndpointsChanged(IReadOnlyList<ProxyEndpoint> endpoints)
        {
            foreach (var (client, session) in _sessions)
            {
                if (!endpoints.Contains(session.Endpoint))
                {
                    _sessions.TryRemove(client, out _);
                    session.Dispose();
                }
            }
        }

        public override void Dispose()
        {
            base.Dispose();
            _socket.Dispose();
            foreach (var session in _sessions.Values)
            {
                session.Dispose();
            }
            _sessions.Clear();
        }

        /// <summary>One client's relay: a socket connected to its endpoint, whose replies go back from the served address.</summary>
        private sealed class Session : IDisposable
        {
            private readonly UdpFrontend _frontend;
            private readonly IPEndPoint _client;
            private long _lastActive = Environment.TickCount64;
            private volatile bool _alive = true;

            public Session(UdpFrontend frontend, IPEndPoint client, ProxyEndpoint endpoint)
            {
                _frontend = frontend;
                _client = client;
                Endpoint = endpoint;
                Socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                Socket.Connect(new IPEndPoint(IPAddress.Parse(endpoint.Ip), endpoint.Port));
            }

            public ProxyEndpoint Endpoint { get; }

            public Socket Socket { get; }

            public bool Alive => _alive;

            public long LastActive => Interlocked.Read(ref _lastActive);

            public void Touch() => Interlocked.Exchange(ref _lastActive, Environment.TickCount64);

            public void Start() => _ = Task.Run(RepliesAsync);

            private async Task RepliesAsync()
            {
                var buffer = new byte[65536];
                try
                {
                    while (_alive)
                    {
                        var read = await Socket.ReceiveAsync(buffer, SocketFlags.None).ConfigureAwait(false);
                        Touch();
                        await _frontend._socket.SendToAsync(buffer.AsMemory(0, read), SocketFlags.None, _client).ConfigureAwait(false);
                    }
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException)
                {
                    _alive = false;
                }
            }

            public void Dispose()
            {
                _alive = false;
                Socket.Dispose();
            }
        }
    }
}
