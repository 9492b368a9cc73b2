using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;

namespace Tugboat.Bench;

/// <summary>A <c>tug server</c> child process for measuring, with an admin HTTPS client factory.</summary>
internal sealed class ServerProcess : IAsyncDisposable
{
    private Process? _process;

    private readonly string[] _extraArgs;

    public ServerProcess(string dataDir, params string[] extraArgs)
    {
        DataDir = dataDir;
        _extraArgs = extraArgs;
        Port = FreePort();
    }

    /// <summary>A TCP port free on the loopback address right now.</summary>
    public static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    public string DataDir { get; }
    public int Port { get; }
    public int Pid => _process!.Id;

    public async Task<TimeSpan> StartAsync()
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        // Control-plane figures are taken without the embedded node agent (the pod benchmark runs one of its own).
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "tug.dll"), "server", "--data-dir", DataDir, "--port", Port.ToString(), "--disable-agent" }.Concat(_extraArgs))
        {
            psi.ArgumentList.Add(a);
        }
        var sw = Stopwatch.StartNew();
        _process = Process.Start(psi)!;
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginErrorReadLine();
        while (await _process.StandardOutput.ReadLineAsync() is { } line)
        {
            if (line.Contains("ready", StringComparison.Ordinal))
            {
                var elapsed = sw.Elapsed;
                _ = _process.StandardOutput.ReadToEndAsync();
                return elapsed;
            }
        }
        throw new InvalidOperationException("tug server exited before it was ready");
    }

    public long ResidentBytes()
    {
        foreach (var line in File.ReadLines($"/proc/{Pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
            }
        }
        return 0;
    }

    /// <summary>
    /// An HTTPS client with one connection: as the admin, as <paramref name="user"/> (a certificate from the cluster CA
    /// with no groups), or, with <paramref name="nodeToken"/>, as a node (the join token, no certificate).
    /// </summary>
    public HttpClient Client(bool http2 = false, string? user = null, bool nodeToken = false)
    {
        var tls = Path.Combine(DataDir, "tls");
        var ca = X509Certificate2.CreateFromPem(File.ReadAllText(Path.Combine(tls, "ca.crt")));
        var handler = new SocketsHttpHandler { MaxConnectionsPerServer = 1, EnableMultipleHttp2Connections = false, InitialHttp2StreamWindowSize = 16 << 20 };
        if (!nodeToken)
        {
            var certificate = user is null
                ? X509Certificate2.CreateFromPemFile(Path.Combine(tls, "admin.crt"), Path.Combine(tls, "admin.key"))
                : UserCertificate(tls, user);
            handler.SslOptions.ClientCertificates = [X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null)];
        }
        handler.SslOptions.RemoteCertificateValidationCallback = (_, cert, _, _) =>
        {
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.Add(ca);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            return cert is X509Certificate2 c && chain.Build(c);
        };
        var client = new HttpClient(handler)
        {
            BaseAddress = new Uri($"https://127.0.0.1:{Port}"),
            DefaultRequestVersion = http2 ? HttpVersion.Version20 : HttpVersion.Version11,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Timeout = TimeSpan.FromMinutes(5),
        };
        if (nodeToken)
        {
            client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", File.ReadAllText(Path.Combine(DataDir, "token")).Trim());
        }
        return client;
    }

    private static X509Certificate2 UserCertificate(string tls, string user)
    {
        using var ca = X509Certificate2.CreateFromPemFile(Path.Combine(tls, "ca.crt"), Path.Combine(tls, "ca.key"));
        var key = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        var request = new System.Security.Cryptography.X509Certificates.CertificateRequest($"CN={user}", key, System.Security.Cryptography.HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new System.Security.Cryptography.Oid("1.3.6.1.5.5.7.3.2")], false));
        using var issued = request.Create(ca, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(4), System.Security.Cryptography.RandomNumberGenerator.GetBytes(8));
        return issued.CopyWithPrivateKey(key);
    }

    public async Task StopAsync()
    {
        if (_process is { HasExited: false })
        {
            Process.Start("kill", ["-TERM", _process.Id.ToString()])!.WaitForExit();
            await _process.WaitForExitAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
        _process?.Dispose();
    }
}
