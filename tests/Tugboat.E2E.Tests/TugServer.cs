using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Tugboat.E2E.Tests;

/// <summary>A real <c>tug server</c> process in a temporary data directory on a free loopback port.</summary>
public sealed class TugServer : IAsyncDisposable
{
    private Process? _process;
    private readonly StringBuilder _output = new();

    private readonly bool _disableControllers;

    private readonly string[] _extraArgs;

    public TugServer(string? dataDir = null, int? port = null, bool disableControllers = false, params string[] extraArgs)
    {
        _extraArgs = extraArgs;
        DataDir = dataDir ?? Directory.CreateTempSubdirectory("tugboat-e2e-").FullName;
        Port = port ?? FreePort();
        _disableControllers = disableControllers;
    }

    /// <summary>
    /// Run the embedded node agent (real pods). Each such server gets its own /24 of the pod range and a free agent
    /// port, so that several can run on one machine; the agent is left out otherwise.
    /// </summary>
    public bool Agent { get; init; }

    private static int _clusters;

    private readonly int _cluster = 200 + (Interlocked.Increment(ref _clusters) % 50);

    /// <summary>The pod range of this server's node when <see cref="Agent"/> is set.</summary>
    public string ClusterCidr => $"10.42.{_cluster}.0/24";

    /// <summary>
    /// The service range of a server with <see cref="Agent"/>: its own /24, so that the service addresses its node
    /// proxies (and its cluster DNS) are not another test cluster's.
    /// </summary>
    public string ServiceCidr => $"10.43.{_cluster}.0/24";

    /// <summary>The ports of the node's Ingress controller when <see cref="Agent"/> is set (free ones, not 80/443).</summary>
    public int IngressHttpPort { get; } = FreePort();

    public int IngressHttpsPort { get; } = FreePort();

    /// <summary>The cluster DNS address of a server with <see cref="Agent"/> (the service range's first address plus ten).</summary>
    public string ClusterDns => $"10.43.{_cluster}.10";

    public string DataDir { get; }
    public int Port { get; }
    public string Kubeconfig => Path.Combine(DataDir, "kubeconfig.yaml");
    public string Url => $"https://127.0.0.1:{Port}";
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public int Pid => _process?.Id ?? 0;

    /// <summary>Starts the server and waits for its "ready" line; returns the time it took.</summary>
    public async Task<TimeSpan> StartAsync()
    {
        var tug = Path.Combine(AppContext.BaseDirectory, "tug.dll");
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { tug, "server", "--data-dir", DataDir, "--port", Port.ToString(), "--bind-address", "127.0.0.1" })
        {
            psi.ArgumentList.Add(a);
        }
        if (_disableControllers)
        {
            psi.ArgumentList.Add("--disable-controllers");
        }
        if (Agent)
        {
            foreach (var a in new[] { "--kubelet-port", (_kubeletPort ??= FreePort()).ToString(), "--cluster-cidr", ClusterCidr, "--service-cidr", ServiceCidr, "--ingress-http-port", IngressHttpPort.ToString(), "--ingress-https-port", IngressHttpsPort.ToString(), "--node-name", "node-" + Path.GetFileName(DataDir).ToLowerInvariant().Replace('_', '-'), "--node-ip", "127.0.0.1" })
            {
                psi.ArgumentList.Add(a);
            }
        }
        else
        {
            psi.ArgumentList.Add("--disable-agent");
        }
        // The agent's pods are host commands unless a test asks for images (auto would choose containerd where installed).
        if (Agent && !_extraArgs.Contains("--runtime"))
        {
            psi.ArgumentList.Add("--runtime");
            psi.ArgumentList.Add("process");
        }
        foreach (var a in _extraArgs)
        {
            psi.ArgumentList.Add(a);
        }
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var sw = Stopwatch.StartNew();
        _process = new Process { StartInfo = psi, EnableRaisingEvents = true };
        _process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }
            lock (_output)
            {
                _output.AppendLine(e.Data);
            }
            if (e.Data.Contains("ready", StringComparison.Ordinal))
            {
                ready.TrySetResult();
            }
        };
        _process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (_output)
                {
                    _output.AppendLine(e.Data);
                }
            }
        };
        var process = _process;
        _process.Exited += (_, _) => Task.Run(() =>
        {
            // The parameterless wait also waits for the redirected output to be read to its end.
            process.WaitForExit();
            ready.TrySetException(new InvalidOperationException("tug server exited before it was ready:\n" + Output));
        });
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        await ready.Task.WaitAsync(TimeSpan.FromSeconds(60));
        return sw.Elapsed;
    }

    /// <summary>Stops the server: gracefully (SIGTERM) or with SIGKILL.</summary>
    public async Task StopAsync(bool kill = false)
    {
        if (_process is null || _process.HasExited)
        {
            return;
        }
        if (kill)
        {
            _process.Kill();
        }
        else
        {
            Process.Start("kill", ["-TERM", _process.Id.ToString()])!.WaitForExit();
        }
        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        _process.Dispose();
        _process = null;
    }

    public async Task<System.Text.Json.Nodes.JsonObject> PodAsync(string ns, string name)
    {
        using var client = AdminClient();
        return (await System.Net.Http.Json.HttpClientJsonExtensions.GetFromJsonAsync<System.Text.Json.Nodes.JsonObject>(client, $"/api/v1/namespaces/{ns}/pods/{name}"))!;
    }

    /// <summary>The pods of a namespace that match a label selector.</summary>
    public async Task<List<System.Text.Json.Nodes.JsonObject>> PodsAsync(string ns, string selector)
    {
        using var client = AdminClient();
        var list = await System.Net.Http.Json.HttpClientJsonExtensions.GetFromJsonAsync<System.Text.Json.Nodes.JsonObject>(client, $"/api/v1/namespaces/{ns}/pods?labelSelector={Uri.EscapeDataString(selector)}");
        return list!["items"]!.AsArray().Select(p => p!.AsObject()).ToList();
    }

    /// <summary>An HTTP client that authenticates with the admin client certificate from the kubeconfig's files.</summary>
    public HttpClient AdminClient(bool withCertificate = true)
    {
        var tls = Path.Combine(DataDir, "tls");
        var ca = X509Certificate2.CreateFromPem(File.ReadAllText(Path.Combine(tls, "ca.crt")));
        var handler = new SocketsHttpHandler();
        handler.SslOptions.RemoteCertificateValidationCallback = (_, cert, _, _) =>
        {
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.Add(ca);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            return cert is X509Certificate2 c && chain.Build(c);
        };
        if (withCertificate)
        {
            var admin = X509Certificate2.CreateFromPemFile(Path.Combine(tls, "admin.crt"), Path.Combine(tls, "admin.key"));
            handler.SslOptions.ClientCertificates = [X509CertificateLoader.LoadPkcs12(admin.Export(X509ContentType.Pkcs12), null)];
        }
        handler.MaxConnectionsPerServer = 64;
        return new HttpClient(handler) { BaseAddress = new Uri(Url), Timeout = TimeSpan.FromSeconds(30) };
    }

    private int? _kubeletPort;

    /// <summary>Runs <c>tug killall</c> on this server's data directory: stops its pods and removes their network.</summary>
    public async Task KillAllAsync()
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "tug.dll"), "killall", "--data-dir", DataDir })
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(p.ExitCode == 0, "tug killall failed: " + await err);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(kill: true);
        if (Agent)
        {
            await KillAllAsync();
        }
        try
        {
            Directory.Delete(DataDir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    internal static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }
}
