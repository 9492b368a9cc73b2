using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Tugboat.ApiServer.Http;
using Tugboat.ApiServer.Security;
using Tugboat.Storage;
using Tugboat.Storage.Encryption;

namespace Tugboat.ApiServer.Hosting;

/// <summary>
/// Runs the control plane of <c>tug server</c>: opens the store, prepares certificates, token and kubeconfig, seeds the
/// system objects, and serves the API over HTTPS until cancelled.
/// </summary>
public static class ApiServerHost
{
    /// <summary>Runs until <paramref name="ct"/> is cancelled; calls <paramref name="onReady"/> once the API answers.</summary>
    /// <param name="onLocalTransport">Given the in-process transport, for clients in this process, before <paramref name="onReady"/>.</param>
    public static async Task RunAsync(ServerOptions options, Action<string> onReady, CancellationToken ct, Action<LocalTransport>? onLocalTransport = null)
    {
        var started = Stopwatch.StartNew();
        var dataDir = Path.GetFullPath(options.DataDir);
        Directory.CreateDirectory(dataDir);
        var store = new EncryptingStore(OpenStore(options, dataDir), EncryptionConfig.LoadOrCreate(dataDir), [EncryptionConfig.SecretsPrefix]);
        await using var _ = store.ConfigureAwait(false);

        var bind = IPAddress.Parse(options.BindAddress);
        var clientHost = bind.Equals(IPAddress.Any) || bind.Equals(IPAddress.IPv6Any) ? IPAddress.Loopback : bind;
        var serviceRange = IPNetwork.Parse(options.ServiceCidr);
        var apiServiceIp = Registry.Strategies.ServiceStrategy.Nth(serviceRange, 1);
        var ips = new List<IPAddress> { IPAddress.Loopback, IPAddress.IPv6Loopback, apiServiceIp };
        if (!ips.Contains(clientHost))
        {
            ips.Add(clientHost);
        }
        var dns = new List<string> { "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", Dns.GetHostName() };
        var pki = Pki.LoadOrCreate(dataDir, dns.Distinct().ToList(), ips);
        var token = EnsureToken(Path.Combine(dataDir, "token"), pki.CaPem);
        var hostPart = clientHost.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{clientHost}]" : clientHost.ToString();
        var serverUrl = $"https://{hostPart}:{options.Port}";

        var registry = new Registry.Registry(store, Registry.Builtins.Create(options.DefaultNotReadyTolerationSeconds, options.DefaultUnreachableTolerationSeconds, serviceRange));
        await Bootstrap.RunAsync(registry, clientHost.ToString(), options.Port, apiServiceIp.ToString(), ct).ConfigureAwait(false);

        // An empty builder: the server's settings are its flags, not appsettings files or ASPNETCORE_ variables from
        // wherever it was started, and nothing watches that directory for changes (the slim builder's configuration
        // reload put an inotify watch on every directory below the working directory).
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore();
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddHostedService(sp => new Compactor(store, options.CompactionInterval, sp.GetRequiredService<ILogger<Compactor>>()));
        builder.Services.AddSingleton(sp => new CustomResourceController(registry, sp.GetRequiredService<ILogger<CustomResourceController>>()));
        builder.Services.AddHostedService(sp => sp.GetRequiredService<CustomResourceController>());
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = null;
            // Slow or idle clients may not hold the server: headers within 30 s and at most 32 KB of them, bodies at
            // 240 bytes/s or more after a 5 s grace, idle connections closed after 130 s (Kestrel's defaults, kept
            // deliberately; request bodies are held to 3 MiB as they are read).
            k.Limits.RequestHeadersTimeout = TimeSpan.FromSeconds(30);
            k.Limits.MaxRequestHeadersTotalSize = 32 * 1024;
            k.Limits.MinRequestBodyDataRate = new MinDataRate(240, TimeSpan.FromSeconds(5));
            k.Limits.KeepAliveTimeout = TimeSpan.FromSeconds(130);
            k.Limits.Http2.MaxStreamsPerConnection = 1000;
            k.Listen(bind, options.Port, listen =>
            {
                listen.Protocols = HttpProtocols.Http1AndHttp2;
                listen.UseHttps(new HttpsConnectionAdapterOptions
                {
                    ServerCertificate = pki.Server,
                    ClientCertificateMode = ClientCertificateMode.AllowCertificate,
                    ClientCertificateValidation = (cert, _, _) => pki.VerifyClient(cert),
                    CheckCertificateRevocation = false,
                });
            });
        });
        LocalTransport.AddTo(builder.Services);
        var app = builder.Build();
        // Custom resources are served from the first request on, not only once the controller has caught up.
        await app.Services.GetRequiredService<CustomResourceController>().SyncAllAsync(ct).ConfigureAwait(false);
        // The request pipeline's parts: who is asking, how many may ask at once, whether they may, and what serves them.
        var identity = new ServerIdentity($"{hostPart}:{options.Port}", token, pki.CaPem);
        var flowControl = new Filters.PriorityAndFairness(options.MaxRequestsInflight, options.MaxMutatingRequestsInflight, (path, token) => CountObjectsAsync(registry, path, token));
        var resources = new Handlers.ResourceHandler(registry, new NodeProxy.KubeletClient(registry, identity, app.Lifetime.ApplicationStopping));
        var handler = new ApiHandler(registry, new Discovery(registry.Catalog), identity, flowControl, new Authorization.AlwaysAllowAuthorizer(), resources,
            app.Services.GetRequiredService<ILogger<ApiHandler>>());
        // WebSocket upgrades for pods/exec, relayed to the node agent.
        app.UseWebSockets();
        app.Run(handler.HandleAsync);

        await app.StartAsync(ct).ConfigureAwait(false);
        Kubeconfig.Write(Path.Combine(dataDir, "kubeconfig.yaml"), serverUrl, pki);
        onLocalTransport?.Invoke(app.Services.GetRequiredService<LocalTransport>());
        onReady($"tug server ready at {serverUrl} in {started.ElapsedMilliseconds} ms (kubeconfig: {Path.Combine(dataDir, "kubeconfig.yaml")})");
        try
        {
            await Task.Delay(Timeout.Infinite, ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        await app.StopAsync(CancellationToken.None).ConfigureAwait(false);
        await app.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>How many objects a LIST of <paramref name="path"/> goes through (0 for paths that name no stored collection).</summary>
    private static async ValueTask<long> CountObjectsAsync(Registry.Registry registry, string path, CancellationToken ct)
    {
        var segs = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var info = segs switch
        {
            ["api", var v, .. var rest] => Http.RequestInfo.Parse(registry.Catalog, string.Empty, v, rest),
            ["apis", var g, var v, .. var rest] => Http.RequestInfo.Parse(registry.Catalog, g, v, rest),
            _ => null,
        };
        if (info is null || info.Type.IsVirtual)
        {
            return 0;
        }
        var stored = info.Type.StoredAs ?? info.Type;
        return await registry.Store.CountAsync(stored.CollectionPrefix(info.Namespace), ct).ConfigureAwait(false);
    }

    private static IStore OpenStore(ServerOptions options, string dataDir)
    {
        var endpoint = options.DatastoreEndpoint;
        if (string.IsNullOrEmpty(endpoint))
        {
            return SqliteStore.Open(Path.Combine(dataDir, "db", "state.db"));
        }
        if (endpoint.StartsWith("sqlite://", StringComparison.Ordinal))
        {
            return SqliteStore.Open(endpoint["sqlite://".Length..]);
        }
        if (endpoint == "memory://")
        {
            return new MemoryStore();
        }
        throw new NotSupportedException($"datastore endpoint '{endpoint}' is not supported yet: use sqlite://PATH (the default) or memory://; etcd support is planned");
    }

    /// <summary>
    /// The node join token, created once. As k3s's: <c>K10&lt;SHA-256 of the CA bundle&gt;::node:&lt;secret&gt;</c>, so that an
    /// agent given only the server URL and the token can fetch the CA from /cacerts and check it before trusting it.
    /// </summary>
    private static string EnsureToken(string path, string caPem)
    {
        if (File.Exists(path))
        {
            return File.ReadAllText(path).Trim();
        }
        var token = "K10" + Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(caPem))) + "::node:" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        PrivateFile.Write(path, token + "\n");
        return token;
    }
}
