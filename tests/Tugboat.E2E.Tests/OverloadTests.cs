using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;

namespace Tugboat.E2E.Tests;

/// <summary>
/// Flow control with a real server and a real hollow agent: a user flooding the server with LISTs gets upstream's 429s
/// once their priority level is full, while node heartbeats, health checks and the admin are served throughout.
/// The server runs with small in-flight limits (30 seats in all) so that the flood saturates it on a 2-core machine.
/// </summary>
public sealed class OverloadTests : IAsyncLifetime
{
    private readonly TugServer _server = new(null, null, false, "--max-requests-inflight", "20", "--max-mutating-requests-inflight", "10");
    private HollowAgent _agent = null!;

    public async Task InitializeAsync()
    {
        await _server.StartAsync();
        _agent = new HollowAgent(_server, 3, "flood", leaseSeconds: 10);
        await _agent.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _agent.DisposeAsync();
        await _server.DisposeAsync();
    }

    /// <summary>A client for a user with a certificate from the cluster CA and no groups: the global-default level.</summary>
    private HttpClient UserClient(string name)
    {
        var tls = Path.Combine(_server.DataDir, "tls");
        using var ca = X509Certificate2.CreateFromPemFile(Path.Combine(tls, "ca.crt"), Path.Combine(tls, "ca.key"));
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.2")], false));
        using var issued = request.Create(ca, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1), RandomNumberGenerator.GetBytes(8));
        using var withKey = issued.CopyWithPrivateKey(key);
        var handler = new SocketsHttpHandler { MaxConnectionsPerServer = 256 };
        handler.SslOptions.RemoteCertificateValidationCallback = (_, _, _, _) => true;
        handler.SslOptions.ClientCertificates = [X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null)];
        return new HttpClient(handler) { BaseAddress = new Uri(_server.Url), Timeout = TimeSpan.FromSeconds(60) };
    }

    [Fact]
    public async Task AFloodOfListsGets429sWhileNodesHealthChecksAndTheAdminAreServed()
    {
        using var admin = _server.AdminClient();
        // Enough to make each LIST take a while: 400 ConfigMaps of 8 KB (about 3.3 MB a list).
        var payload = new string('x', 8 * 1024);
        await Parallel.ForEachAsync(Enumerable.Range(0, 400), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, ct) =>
        {
            using var created = await admin.PostAsync("/api/v1/namespaces/default/configmaps",
                new StringContent("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"filler-" + i + "\"},\"data\":{\"x\":\"" + payload + "\"}}", Encoding.UTF8, "application/json"), ct);
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        });

        using var alice = UserClient("alice");
        using var flooding = new CancellationTokenSource(TimeSpan.FromSeconds(12));
        var codes = new System.Collections.Concurrent.ConcurrentBag<(HttpStatusCode Code, string? RetryAfter, string Body)>();
        var flood = Enumerable.Range(0, 120).Select(_ => Task.Run(async () =>
        {
            while (!flooding.IsCancellationRequested)
            {
                try
                {
                    using var response = await alice.GetAsync("/api/v1/configmaps", HttpCompletionOption.ResponseContentRead, flooding.Token);
                    var body = response.StatusCode == HttpStatusCode.TooManyRequests ? await response.Content.ReadAsStringAsync() : string.Empty;
                    codes.Add((response.StatusCode, response.Headers.RetryAfter?.ToString(), body));
                }
                catch (OperationCanceledException)
                {
                }
            }
        })).ToList();

        // While the flood runs: health checks (even the flooding user's), the admin, and node heartbeats are served.
        var probes = new List<(string What, HttpStatusCode Code)>();
        var token = (await File.ReadAllTextAsync(Path.Combine(_server.DataDir, "token"))).Trim();
        using var node = _server.AdminClient(withCertificate: false);
        node.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        while (!flooding.IsCancellationRequested)
        {
            using (var ready = await alice.GetAsync("/readyz"))
            {
                probes.Add(("readyz", ready.StatusCode));
            }
            using (var lease = await node.GetAsync("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/flood-0"))
            {
                probes.Add(("lease", lease.StatusCode));
            }
            using (var pods = await admin.GetAsync("/api/v1/namespaces/default/pods"))
            {
                probes.Add(("admin", pods.StatusCode));
            }
            await Task.Delay(200);
        }
        await Task.WhenAll(flood);

        Assert.All(probes, p => Assert.True(p.Code == HttpStatusCode.OK, $"{p.What}: {p.Code}"));
        var refused = codes.Where(c => c.Code == HttpStatusCode.TooManyRequests).ToList();
        Assert.NotEmpty(refused);
        Assert.Contains(codes, c => c.Code == HttpStatusCode.OK);
        Assert.All(codes, c => Assert.True(c.Code is HttpStatusCode.OK or HttpStatusCode.TooManyRequests, c.Code.ToString()));
        Assert.All(refused, r => Assert.Equal(("1", "Too many requests, please try again later.\n"), (r.RetryAfter, r.Body)));

        // The nodes kept their leases: none went NotReady.
        var nodes = JsonNode.Parse(await admin.GetStringAsync("/api/v1/nodes"))!["items"]!.AsArray();
        Assert.Equal(3, nodes.Count);
        Assert.All(nodes, n => Assert.Equal("True", n!["status"]!["conditions"]!.AsArray().Single(c => c!["type"]!.GetValue<string>() == "Ready")!["status"]!.GetValue<string>()));
    }
}
