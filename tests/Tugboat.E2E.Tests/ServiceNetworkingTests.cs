using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Tugboat.Network.Dns;

namespace Tugboat.E2E.Tests;

/// <summary>Services on the kernel data path (nftables), the default where the node allows it.</summary>
public sealed class ServiceNetworkingTests(AgentClusterFixture fixture) : ServiceNetworkingSuite(fixture), IClassFixture<AgentClusterFixture>;

/// <summary>The same Services on the userspace proxy (<c>--proxy-mode userspace</c>), the fallback where nftables cannot be used.</summary>
public sealed class UserspaceServiceNetworkingTests(UserspaceProxyClusterFixture fixture) : ServiceNetworkingSuite(fixture), IClassFixture<UserspaceProxyClusterFixture>
{
    [Fact]
    public async Task TheNodeProxiesInUserspaceWithoutAnNftablesTable()
    {
        await Eventually.ForAsync(() => Task.FromResult(Server.Output.Contains("proxies services (userspace)", StringComparison.Ordinal) ? "yes" : null), TimeSpan.FromSeconds(30));
        var octets = System.Net.IPNetwork.Parse(Server.ClusterCidr).BaseAddress.GetAddressBytes();
        var bridge = $"tug{octets[0]:x2}{octets[1]:x2}{octets[2]:x2}";
        using var nft = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("nft", ["list", "table", "ip", bridge]) { RedirectStandardError = true, RedirectStandardOutput = true })!;
        await nft.WaitForExitAsync();
        Assert.NotEqual(0, nft.ExitCode);
    }
}

/// <summary>
/// Services on real pods, driven with real kubectl: NodePort, ClusterIP and LoadBalancer traffic balanced over ready
/// pods, rollouts without lost requests, and the cluster DNS as pods use it; run against each proxy mode.
/// </summary>
public abstract class ServiceNetworkingSuite(AgentClusterFixture fixture)
{
    protected TugServer Server => fixture.Server;

    private Kubectl K => new(Kubectl.V132, fixture.Server.Kubeconfig);

    /// <summary>A namespace with a Deployment of HTTP servers that answer with their pod's name.</summary>
    private async Task DeployWebAsync(string ns, int replicas = 3)
    {
        (await K.RunWithInputAsync($$$$"""
            apiVersion: v1
            kind: Namespace
            metadata: {name: {{{{ns}}}}}
            ---
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: web, namespace: {{{{ns}}}}}
            spec:
              replicas: {{{{replicas}}}}
              selector: {matchLabels: {app: web}}
              template:
                metadata: {labels: {app: web}}
                spec:
                  containers:
                  - name: web
                    image: python:3
                    command: ["sh", "-c", "echo $POD_NAME > /srv/index.html && cd /srv && exec python3 -m http.server 8080"]
                    env: [{name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]
                    ports: [{containerPort: 8080, name: http}]
                    volumeMounts: [{name: srv, mountPath: /srv}]
                    readinessProbe:
                      httpGet: {path: /, port: http}
                      periodSeconds: 1
                    lifecycle:
                      preStop: {exec: {command: ["sleep", "2"]}}
                  volumes: [{name: srv, emptyDir: {}}]
            """, "apply", "-f", "-")).Ok();
        (await K.RunAsync("rollout", "status", "deployment/web", "-n", ns, "--timeout=120s")).Ok();
    }

    /// <summary>A pod to run clients in (curl and getent from the node, inside the pod's network and resolv.conf).</summary>
    private async Task<string> ClientPodAsync(string ns)
    {
        (await K.RunAsync("run", "client", "-n", ns, "--image=busybox", "--command", "--", "sleep", "3600")).Ok();
        (await K.RunAsync("wait", "--for=condition=Ready", "pod/client", "-n", ns, "--timeout=60s")).Ok();
        return "client";
    }

    private async Task<int> NodePortAsync(string ns, string svc) =>
        int.Parse((await K.RunAsync("get", "svc", svc, "-n", ns, "-o", "jsonpath={.spec.ports[0].nodePort}")).Ok().Out.Trim());

    private async Task<string> ClusterIpAsync(string ns, string svc) =>
        (await K.RunAsync("get", "svc", svc, "-n", ns, "-o", "jsonpath={.spec.clusterIP}")).Ok().Out.Trim();

    /// <summary>GETs <paramref name="url"/> on a new connection each time; the pod names that answered.</summary>
    private static async Task<List<string>> GetManyAsync(string url, int count)
    {
        using var http = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.Zero }) { Timeout = TimeSpan.FromSeconds(10) };
        var names = new List<string>();
        for (var i = 0; i < count; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, url);
            request.Headers.ConnectionClose = true;
            using var response = await http.SendAsync(request);
            response.EnsureSuccessStatusCode();
            names.Add((await response.Content.ReadAsStringAsync()).Trim());
        }
        return names;
    }

    /// <summary>
    /// As <see cref="GetManyAsync"/>, for probes that wait for the proxy to catch up: null while the service refuses
    /// connections (a service whose endpoints the node has not programmed yet is refused at once, by design).
    /// </summary>
    private static async Task<List<string>?> GetManyOrNullAsync(string url, int count)
    {
        try
        {
            return await GetManyAsync(url, count);
        }
        catch (HttpRequestException)
        {
            return null;
        }
    }

    private async Task<HashSet<string>> PodNamesAsync(string ns) =>
        [.. (await fixture.Server.PodsAsync(ns, "app=web")).Where(p => p["metadata"]!["deletionTimestamp"] is null).Select(p => p["metadata"]!["name"]!.GetValue<string>())];

    [Fact]
    public async Task ANodePortServiceBalancesOverEveryReplicaAndFollowsScaling()
    {
        await DeployWebAsync("hello");
        (await K.RunAsync("expose", "deployment", "web", "-n", "hello", "--type=NodePort", "--port=80", "--target-port=http")).Ok();
        var nodePort = await NodePortAsync("hello", "web");
        var pods = await PodNamesAsync("hello");
        var answers = await Eventually.ForAsync(async () => await GetManyOrNullAsync($"http://127.0.0.1:{nodePort}/", 300) is { } a && a.ToHashSet().SetEquals(pods) ? a : null, TimeSpan.FromSeconds(30));
        Assert.All(pods, p => Assert.Contains(p, answers));

        // The cluster IP answers from the node too, with the same backends.
        var clusterIp = await ClusterIpAsync("hello", "web");
        Assert.Subset(pods, (await GetManyAsync($"http://{clusterIp}/", 30)).ToHashSet());

        (await K.RunAsync("scale", "deployment/web", "-n", "hello", "--replicas=1")).Ok();
        var single = await Eventually.ForAsync(async () =>
        {
            var left = await PodNamesAsync("hello");
            return left.Count == 1 && (await GetManyAsync($"http://127.0.0.1:{nodePort}/", 20)).All(left.Contains) ? left : null;
        }, TimeSpan.FromSeconds(60));
        Assert.Single(single);

        (await K.RunAsync("scale", "deployment/web", "-n", "hello", "--replicas=3")).Ok();
        (await K.RunAsync("rollout", "status", "deployment/web", "-n", "hello", "--timeout=90s")).Ok();
        var three = await PodNamesAsync("hello");
        await Eventually.ForAsync(async () => (await GetManyOrNullAsync($"http://127.0.0.1:{nodePort}/", 100))?.ToHashSet().SetEquals(three) == true ? three : null, TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task ARollingUpdateUnderContinuousTrafficLosesNoRequest()
    {
        await DeployWebAsync("rolling");
        (await K.RunAsync("expose", "deployment", "web", "-n", "rolling", "--port=80", "--target-port=http")).Ok();
        var clusterIp = await ClusterIpAsync("rolling", "web");
        var before = await PodNamesAsync("rolling");
        await Eventually.ForAsync(async () => (await GetManyOrNullAsync($"http://{clusterIp}/", 60))?.ToHashSet().SetEquals(before) == true ? before : null, TimeSpan.FromSeconds(30));

        using var stop = new CancellationTokenSource();
        var failures = new List<string>();
        var served = new HashSet<string>();
        var requests = 0;
        var loop = Task.Run(async () =>
        {
            using var http = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.Zero }) { Timeout = TimeSpan.FromSeconds(10) };
            while (!stop.IsCancellationRequested)
            {
                requests++;
                try
                {
                    using var request = new HttpRequestMessage(HttpMethod.Get, $"http://{clusterIp}/");
                    request.Headers.ConnectionClose = true;
                    using var response = await http.SendAsync(request);
                    var body = (await response.Content.ReadAsStringAsync()).Trim();
                    if (response.IsSuccessStatusCode)
                    {
                        served.Add(body);
                    }
                    else
                    {
                        failures.Add($"{(int)response.StatusCode} {body}");
                    }
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                    failures.Add(e.Message);
                }
            }
        });
        (await K.RunAsync("set", "env", "deployment/web", "-n", "rolling", "VERSION=2")).Ok();
        (await K.RunAsync("rollout", "status", "deployment/web", "-n", "rolling", "--timeout=180s")).Ok();
        var after = await PodNamesAsync("rolling");
        await Eventually.ForAsync(async () => served.IsSupersetOf(after) ? after : null, TimeSpan.FromSeconds(30));
        await stop.CancelAsync();
        await loop;
        Assert.True(failures.Count == 0, $"{failures.Count} of {requests} requests failed during the rollout: {string.Join("; ", failures.Take(5))}");
        Assert.True(requests > 50, $"only {requests} requests were made");
        Assert.Empty(before.Intersect(after));
    }

    [Fact]
    public async Task PodsReachServicesByNameAndTheClusterDnsAnswersLikeCoreDns()
    {
        await DeployWebAsync("dns");
        (await K.RunWithInputAsync("""
            apiVersion: v1
            kind: Service
            metadata: {name: web, namespace: dns}
            spec:
              selector: {app: web}
              ports: [{name: http, port: 80, targetPort: http}]
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: web-headless, namespace: dns}
            spec:
              clusterIP: None
              selector: {app: web}
              ports: [{name: http, port: 8080}]
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: alias, namespace: dns}
            spec:
              type: ExternalName
              externalName: web.dns.svc.cluster.local
            """, "apply", "-f", "-")).Ok();
        var client = await ClientPodAsync("dns");
        var pods = await PodNamesAsync("dns");
        var podIps = (await fixture.Server.PodsAsync("dns", "app=web")).Select(p => p["status"]!["podIP"]!.GetValue<string>()).ToHashSet();
        var clusterIp = await ClusterIpAsync("dns", "web");

        var resolv = (await K.RunAsync("exec", client, "-n", "dns", "--", "cat", "/etc/resolv.conf")).Ok().Out;
        Assert.Contains($"nameserver {fixture.Server.ClusterDns}", resolv, StringComparison.Ordinal);
        Assert.Contains("search dns.svc.cluster.local svc.cluster.local cluster.local", resolv, StringComparison.Ordinal);
        Assert.Contains("options ndots:5", resolv, StringComparison.Ordinal);

        foreach (var url in new[] { "http://web.dns.svc.cluster.local/", "http://web/", "http://web.dns/" })
        {
            var body = (await K.RunAsync("exec", client, "-n", "dns", "--", "curl", "-sS", "--max-time", "10", url)).Ok().Out.Trim();
            Assert.Contains(body, pods);
        }
        Assert.StartsWith(clusterIp + " ", (await K.RunAsync("exec", client, "-n", "dns", "--", "getent", "hosts", "web")).Ok().Out, StringComparison.Ordinal);
        Assert.StartsWith(fixture.Server.ClusterDns + " ", (await K.RunAsync("exec", client, "-n", "dns", "--", "getent", "hosts", "kube-dns.kube-system")).Ok().Out, StringComparison.Ordinal);

        // Service variables, as upstream's kubelet gives them to containers started after the Service.
        var env = (await K.RunAsync("exec", client, "-n", "dns", "--", "printenv")).Ok().Out;
        Assert.Contains($"WEB_SERVICE_HOST={clusterIp}\n", env, StringComparison.Ordinal);
        Assert.Contains("WEB_SERVICE_PORT_HTTP=80\n", env, StringComparison.Ordinal);
        Assert.Contains($"WEB_PORT=tcp://{clusterIp}:80\n", env, StringComparison.Ordinal);
        Assert.Contains("KUBERNETES_SERVICE_PORT=443\n", env, StringComparison.Ordinal);
        Assert.DoesNotContain("WEB_HEADLESS_SERVICE_HOST", env, StringComparison.Ordinal);

        // Headless: every ready pod's address; ExternalName: a CNAME (here to the service above).
        var headless = (await K.RunAsync("exec", client, "-n", "dns", "--", "getent", "ahostsv4", "web-headless.dns.svc.cluster.local")).Ok().Out;
        Assert.Equal(podIps, headless.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ')[0]).ToHashSet());
        var alias = (await K.RunAsync("exec", client, "-n", "dns", "--", "getent", "hosts", "alias.dns.svc.cluster.local")).Ok().Out;
        Assert.StartsWith(clusterIp + " ", alias, StringComparison.Ordinal);
        var dashed = podIps.First().Replace('.', '-');
        Assert.StartsWith(podIps.First() + " ", (await K.RunAsync("exec", client, "-n", "dns", "--", "getent", "hosts", $"{dashed}.dns.pod.cluster.local")).Ok().Out, StringComparison.Ordinal);

        // Straight to the DNS server (from the node, through the proxy's DNS rule): SRV for named ports, NXDOMAIN, TCP.
        var dns = new IPEndPoint(IPAddress.Parse(fixture.Server.ClusterDns), 53);
        var srv = await QueryUdpAsync(dns, "_http._tcp.web.dns.svc.cluster.local", DnsType.Srv);
        Assert.Equal(DnsCode.NoError, srv.Code);
        Assert.Equal("0 100 80 web.dns.svc.cluster.local", Assert.Single(srv.Answers).Data);
        Assert.Contains(srv.Additional, r => r.Type == DnsType.A && r.Data == clusterIp);
        var headlessSrv = await QueryUdpAsync(dns, "_http._tcp.web-headless.dns.svc.cluster.local", DnsType.Srv);
        Assert.Equal(podIps.Count, headlessSrv.Answers.Count);
        Assert.Equal(DnsCode.NxDomain, (await QueryUdpAsync(dns, "nothing.dns.svc.cluster.local", DnsType.A)).Code);
        Assert.Equal(DnsCode.NoError, (await QueryUdpAsync(dns, "web.dns.svc.cluster.local", DnsType.Aaaa)).Code);
        var overTcp = await QueryTcpAsync(dns, "web-headless.dns.svc.cluster.local", DnsType.A);
        Assert.Equal(podIps, overTcp.Answers.Select(a => a.Data).ToHashSet());

        // A malformed packet gets FORMERR, and the server goes on answering.
        using (var udp = new UdpClient())
        {
            udp.Connect(dns);
            await udp.SendAsync(new byte[] { 0x12, 0x34, 0x01 });
            var reply = (await udp.ReceiveAsync().WaitAsync(TimeSpan.FromSeconds(5))).Buffer;
            Assert.Equal(new byte[] { 0x12, 0x34 }, reply[..2]);
            Assert.Equal((int)DnsCode.FormErr, reply[3] & 0x0f);
        }
        Assert.Equal(clusterIp, Assert.Single((await QueryUdpAsync(dns, "web.dns.svc.cluster.local", DnsType.A)).Answers).Data);
    }

    [Fact]
    public async Task LoadBalancerAffinityAndEmptyServices()
    {
        await DeployWebAsync("lb");
        var port = TugServer.FreePort();
        (await K.RunAsync("expose", "deployment", "web", "-n", "lb", "--name=front", "--type=LoadBalancer", $"--port={port}", "--target-port=http")).Ok();
        var external = await Eventually.ForAsync(async () => (await K.RunAsync("get", "svc", "front", "-n", "lb", "-o", "jsonpath={.status.loadBalancer.ingress[0].ip}")).Out.Trim() is { Length: > 0 } ip ? ip : null, TimeSpan.FromSeconds(30));
        Assert.Equal("127.0.0.1", external);
        var row = (await K.RunAsync("get", "svc", "front", "-n", "lb")).Ok().Out;
        Assert.Contains("127.0.0.1", row, StringComparison.Ordinal);
        var pods = await PodNamesAsync("lb");
        Assert.Subset(pods, (await Eventually.ForAsync(async () => await GetManyOrNullAsync($"http://127.0.0.1:{port}/", 30) is { Count: 30 } a ? a : null)).ToHashSet());

        // ClientIP affinity: every request from the node goes to the same pod.
        (await K.RunWithInputAsync("""
            apiVersion: v1
            kind: Service
            metadata: {name: sticky, namespace: lb}
            spec:
              selector: {app: web}
              sessionAffinity: ClientIP
              ports: [{port: 80, targetPort: 8080}]
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: nobody, namespace: lb}
            spec:
              selector: {app: nobody-has-this}
              ports: [{port: 80, targetPort: 8080}]
            """, "apply", "-f", "-")).Ok();
        var sticky = await ClusterIpAsync("lb", "sticky");
        var stuck = await Eventually.ForAsync(async () => await GetManyOrNullAsync($"http://{sticky}/", 30) is { } a && a.Distinct().Count() == 1 && pods.Contains(a[0]) ? a : null, TimeSpan.FromSeconds(30));
        Assert.Single(stuck.Distinct());
        // Stickiness survives the node's proxy being rewritten for other Services' changes.
        foreach (var other in new[] { "other-a", "other-b" })
        {
            (await K.RunAsync("expose", "deployment", "web", "-n", "lb", $"--name={other}", "--port=81", "--target-port=http")).Ok();
            var otherIp = await ClusterIpAsync("lb", other);
            await Eventually.ForAsync(async () =>
            {
                try
                {
                    return await GetManyAsync($"http://{otherIp}:81/", 1) is [var one] ? one : null;
                }
                catch (HttpRequestException)
                {
                    return null;
                }
            }, TimeSpan.FromSeconds(30));
            Assert.Equal([stuck[0]], (await GetManyAsync($"http://{sticky}/", 10)).Distinct());
        }

        // A service whose selector matches nothing refuses at once; the others keep working.
        var nobody = await ClusterIpAsync("lb", "nobody");
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var refused = await Assert.ThrowsAsync<SocketException>(async () => await socket.ConnectAsync(IPAddress.Parse(nobody), 80).WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
        Assert.Equal(30, (await GetManyAsync($"http://127.0.0.1:{port}/", 30)).Count);
    }

    [Fact]
    public async Task HostPortsAnswerOnTheNode()
    {
        var hostPort = TugServer.FreePort();
        (await K.RunWithInputAsync($$$"""
            apiVersion: v1
            kind: Namespace
            metadata: {name: hostport}
            ---
            apiVersion: v1
            kind: Pod
            metadata: {name: web, namespace: hostport}
            spec:
              containers:
              - name: web
                image: python:3
                command: ["sh", "-c", "mkdir -p /tmp/www && echo hostport-ok > /tmp/www/index.html && cd /tmp/www && exec python3 -m http.server 8080"]
                ports: [{containerPort: 8080, hostPort: {{{hostPort}}}}]
                readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
            """, "apply", "-f", "-")).Ok();
        (await K.RunAsync("wait", "--for=condition=Ready", "pod/web", "-n", "hostport", "--timeout=60s")).Ok();
        var body = await Eventually.ForAsync(async () =>
        {
            try
            {
                using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
                return (await http.GetStringAsync($"http://127.0.0.1:{hostPort}/")).Trim();
            }
            catch (HttpRequestException)
            {
                return null;
            }
        }, TimeSpan.FromSeconds(30));
        Assert.Equal("hostport-ok", body);

        // Deleting the pod takes the port away.
        (await K.RunAsync("delete", "pod", "web", "-n", "hostport", "--grace-period=1")).Ok();
        await Eventually.ForAsync(async () =>
        {
            try
            {
                using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
                await http.GetStringAsync($"http://127.0.0.1:{hostPort}/");
                return null;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                return "gone";
            }
        }, TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task UdpServicesAreProxiedToo()
    {
        (await K.RunWithInputAsync("""
            apiVersion: v1
            kind: Namespace
            metadata: {name: udp}
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: echo, namespace: udp}
            spec:
              type: NodePort
              selector: {app: echo}
              ports: [{port: 53, protocol: UDP, targetPort: echo}]
            """, "apply", "-f", "-")).Ok();
        (await K.RunWithInputAsync(EchoPod("echo", "echo:"), "apply", "-f", "-")).Ok();
        (await K.RunAsync("wait", "--for=condition=Ready", "pod/echo", "-n", "udp", "--timeout=60s")).Ok();
        var clusterIp = await ClusterIpAsync("udp", "echo");
        var nodePort = await NodePortAsync("udp", "echo");
        foreach (var target in new[] { new IPEndPoint(IPAddress.Parse(clusterIp), 53), new IPEndPoint(IPAddress.Loopback, nodePort) })
        {
            var answer = await Eventually.ForAsync(async () =>
            {
                using var udp = new UdpClient();
                udp.Connect(target);
                await udp.SendAsync("ping"u8.ToArray());
                try
                {
                    return System.Text.Encoding.ASCII.GetString((await udp.ReceiveAsync().WaitAsync(TimeSpan.FromSeconds(1))).Buffer);
                }
                catch (Exception e) when (e is TimeoutException or SocketException)
                {
                    return null;
                }
            }, TimeSpan.FromSeconds(30));
            Assert.Equal("echo:ping", answer);
        }

        // A client that keeps one socket (one tracked flow) follows the service to a new pod once the old one goes,
        // as kube-proxy clears the UDP flows of removed endpoints.
        using var steady = new UdpClient(new IPEndPoint(IPAddress.Any, 0));
        var service = new IPEndPoint(IPAddress.Parse(clusterIp), 53);
        async Task<string?> AskAsync()
        {
            try
            {
                // While the service has no endpoint the node refuses the datagram at once (an error on this socket).
                await steady.SendAsync("ping"u8.ToArray(), service);
                using var timeout = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
                return System.Text.Encoding.ASCII.GetString((await steady.ReceiveAsync(timeout.Token)).Buffer);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException)
            {
                return null;
            }
        }
        Assert.Equal("echo:ping", await Eventually.ForAsync(async () => await AskAsync() is "echo:ping" ? "echo:ping" : null, TimeSpan.FromSeconds(30)));
        (await K.RunAsync("delete", "pod", "echo", "-n", "udp", "--grace-period=1")).Ok();
        (await K.RunWithInputAsync(EchoPod("echo2", "echo2:"), "apply", "-f", "-")).Ok();
        Assert.Equal("echo2:ping", await Eventually.ForAsync(async () => await AskAsync() is "echo2:ping" ? "echo2:ping" : null, TimeSpan.FromSeconds(60)));
    }

    /// <summary>A pod in namespace udp (label app=echo) answering each datagram on port 9000 with <paramref name="prefix"/> and the datagram.</summary>
    private static string EchoPod(string name, string prefix) => $$$"""
        apiVersion: v1
        kind: Pod
        metadata: {name: {{{name}}}, namespace: udp, labels: {app: echo}}
        spec:
          containers:
          - name: echo
            image: python:3
            command: ["python3", "-c", "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.bind(('', 9000))\nwhile True:\n    d, a = s.recvfrom(2048)\n    s.sendto(b'{{{prefix}}}' + d, a)\n"]
            ports: [{containerPort: 9000, protocol: UDP, name: echo}]
        """;

    private static async Task<DnsMessage> QueryUdpAsync(IPEndPoint server, string name, DnsType type)
    {
        using var udp = new UdpClient();
        udp.Connect(server);
        var query = new DnsMessage { Id = 7, RecursionDesired = true, Questions = [new DnsQuestion(name, type)] }.Encode();
        await udp.SendAsync(query);
        return DnsMessage.Parse((await udp.ReceiveAsync().WaitAsync(TimeSpan.FromSeconds(5))).Buffer);
    }

    private static async Task<DnsMessage> QueryTcpAsync(IPEndPoint server, string name, DnsType type)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(server);
        var stream = tcp.GetStream();
        var query = new DnsMessage { Id = 8, RecursionDesired = true, Questions = [new DnsQuestion(name, type)] }.Encode();
        await stream.WriteAsync(new[] { (byte)(query.Length >> 8), (byte)query.Length }.Concat(query).ToArray());
        var header = new byte[2];
        await stream.ReadExactlyAsync(header);
        var reply = new byte[(header[0] << 8) | header[1]];
        await stream.ReadExactlyAsync(reply);
        return DnsMessage.Parse(reply);
    }
}
