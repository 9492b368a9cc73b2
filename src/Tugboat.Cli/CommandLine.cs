using System.Globalization;
using Microsoft.Extensions.Logging;
using Tugboat.ApiServer.Hosting;
using Tugboat.Controllers;

namespace Tugboat.Cli;

/// <summary>The <c>tug</c> command line: <c>server</c> now; <c>agent</c> and kubectl-style verbs as they are built.</summary>
internal static class CommandLine
{
    private const string Usage = """
        tug — a Kubernetes-compatible container orchestrator

        Usage:
          tug server [--data-dir DIR] [--port 6443] [--bind-address 127.0.0.1] [--disable-agent]
                     [--disable-controllers] [--runtime auto|process|containerd] [--container-runtime-endpoint unix:///PATH]
                     [--datastore-endpoint URL]
                     [--node-monitor-grace-period 40s] [--default-not-ready-toleration-seconds 300]
                     [--default-unreachable-toleration-seconds 300] [--node-name NAME] [--node-ip IP]
                     [--kubelet-port 10250] [--cluster-cidr 10.42.0.0/16] [--service-cidr 10.43.0.0/16]
                     [--terminated-pod-gc-threshold 12500] [--ingress-http-port 80] [--ingress-https-port 443]
                     [--max-requests-inflight 400] [--max-mutating-requests-inflight 200]
                     [--proxy-mode auto|nftables|userspace]
          tug agent --server URL --token TOKEN [--ca-file FILE] [--data-dir DIR] [--node-name NAME] [--node-ip IP]
                    [--kubelet-port 10250] [--runtime auto|process|containerd] [--container-runtime-endpoint unix:///PATH]
                    [--node-lease-duration-seconds 40]
                    [--ingress-http-port 80] [--ingress-https-port 443] [--proxy-mode auto|nftables|userspace]
          tug agent --server URL --token TOKEN [--ca-file FILE] --hollow-nodes N [--node-name PREFIX]
          tug killall [--data-dir DIR]
          tug images import FILE... [--data-dir DIR]
          tug images ls [--data-dir DIR]
          tug version

        Commands:
          server    Run a single-node cluster: API server, controllers, scheduler and a node agent that runs pods
                    (--disable-agent leaves it out; --disable-controllers runs the API server alone).
          agent     Join a cluster as a node that runs pods, or as N simulated (hollow) nodes for scale work.
          killall   Stop every pod a node agent (data directory DIR) runs and remove its pod network; stopping
                    the agent itself leaves pods running, as a kubelet does.
          images    Import image archives into the node's containerd, or list its images (for machines without crictl).
          version   Print the version.
        """;

    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            Console.WriteLine(Usage);
            return args.Length == 0 ? 1 : 0;
        }
        try
        {
            return args[0] switch
            {
                "server" => await ServerAsync(args[1..]).ConfigureAwait(false),
                "version" => Version(),
                "agent" => await AgentAsync(args[1..]).ConfigureAwait(false),
                "killall" => await KillAllAsync(args[1..]).ConfigureAwait(false),
                "images" => await ImagesAsync(args[1..]).ConfigureAwait(false),
                _ => Fail($"unknown command \"{args[0]}\" for \"tug\"\n\n{Usage}"),
            };
        }
        catch (UsageException e)
        {
            return Fail(e.Message);
        }
        catch (IOException e) when (e.InnerException is Microsoft.AspNetCore.Connections.AddressInUseException)
        {
            // Another server (or agent) holds the port: say so instead of a stack trace.
            return Fail(e.Message + " Is another tug server or agent running? Choose another port with --port or --kubelet-port.");
        }
    }

    private static int Version()
    {
        Console.WriteLine($"tug version {typeof(CommandLine).Assembly.GetName().Version} (Kubernetes API v1.30)");
        return 0;
    }

    private static int Fail(string message)
    {
        Console.Error.WriteLine("Error: " + message);
        return 1;
    }

    /// <summary>Ctrl-C and SIGTERM cancel <paramref name="cts"/> instead of killing the process, so it can stop cleanly.</summary>
    private static IDisposable CancelOnSignals(CancellationTokenSource cts)
    {
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            cts.Cancel();
        };
        return System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, ctx =>
        {
            ctx.Cancel = true;
            cts.Cancel();
        });
    }

    private static Tugboat.Network.Proxy.ProxyMode ProxyMode(string value) => value switch
    {
        "auto" => Tugboat.Network.Proxy.ProxyMode.Auto,
        "nftables" => Tugboat.Network.Proxy.ProxyMode.Nftables,
        "userspace" => Tugboat.Network.Proxy.ProxyMode.Userspace,
        _ => throw new UsageException("--proxy-mode must be auto, nftables or userspace"),
    };

    /// <summary>A TCP port, or 0 for none.</summary>
    private static int Port(string flag, string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port < 65536 ? port : throw new UsageException($"{flag} takes a port number (0 for none)");

    private static int Seconds(string flag, string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var s) ? s : throw new UsageException($"{flag} takes a number of seconds");

    /// <summary>A Go-style duration: 40s, 5m, 1m30s, 500ms, 1h.</summary>
    private static TimeSpan Duration(string flag, string value)
    {
        var match = System.Text.RegularExpressions.Regex.Match(value, @"^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+)ms)?$");
        if (value.Length == 0 || !match.Success)
        {
            throw new UsageException($"{flag} takes a duration such as 40s, 5m or 1m30s");
        }
        double Part(int i) => match.Groups[i].Success ? double.Parse(match.Groups[i].Value, CultureInfo.InvariantCulture) : 0;
        return TimeSpan.FromHours(Part(1)) + TimeSpan.FromMinutes(Part(2)) + TimeSpan.FromSeconds(Part(3)) + TimeSpan.FromMilliseconds(Part(4));
    }

    private static async Task<int> AgentAsync(string[] args)
    {
        string? server = null, token = null, caFile = null, nodeName = null, nodeIp = null;
        var dataDir = Path.Combine(ServerOptions.DefaultDataDir(), "agent");
        var kubeletPort = 10250;
        var ingressHttp = 80;
        var ingressHttps = 443;
        var proxyMode = Tugboat.Network.Proxy.ProxyMode.Auto;
        var hollow = 0;
        var leaseSeconds = 40;
        var runtime = "auto";
        string? runtimeEndpoint = null;
        for (var i = 0; i < args.Length; i++)
        {
            var (flag, inline) = args[i].Split('=', 2) is [var f, var v] ? (f, v) : (args[i], null);
            string Value() => inline ?? (i + 1 < args.Length ? args[++i] : throw new UsageException($"flag needs an argument: {flag}"));
            switch (flag)
            {
                case "--server" or "-s":
                    server = Value();
                    break;
                case "--token" or "-t":
                    token = Value();
                    break;
                case "--ca-file":
                    caFile = Value();
                    break;
                case "--node-name":
                    nodeName = Value();
                    break;
                case "--hollow-nodes":
                    hollow = int.TryParse(Value(), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0 ? n : throw new UsageException("--hollow-nodes must be a positive number");
                    break;
                case "--runtime":
                    runtime = Value() is var r && r is "auto" or "process" or "containerd" ? r : throw new UsageException("--runtime must be auto, process or containerd");
                    break;
                case "--container-runtime-endpoint":
                    runtimeEndpoint = Value() is var e && e.StartsWith("unix:///", StringComparison.Ordinal) ? e : throw new UsageException("--container-runtime-endpoint must be unix:///PATH");
                    runtime = "containerd";
                    break;
                case "--data-dir" or "-d":
                    dataDir = Value();
                    break;
                case "--node-ip":
                    nodeIp = System.Net.IPAddress.TryParse(Value(), out var ip) ? ip.ToString() : throw new UsageException("invalid --node-ip");
                    break;
                case "--kubelet-port":
                    kubeletPort = int.TryParse(Value(), NumberStyles.None, CultureInfo.InvariantCulture, out var kp) && kp < 65536 ? kp : throw new UsageException("invalid --kubelet-port");
                    break;
                case "--ingress-http-port":
                    ingressHttp = Port(flag, Value());
                    break;
                case "--ingress-https-port":
                    ingressHttps = Port(flag, Value());
                    break;
                case "--proxy-mode":
                    proxyMode = ProxyMode(Value());
                    break;
                case "--node-lease-duration-seconds":
                    leaseSeconds = int.TryParse(Value(), NumberStyles.None, CultureInfo.InvariantCulture, out var ls) && ls > 0 ? ls : throw new UsageException("--node-lease-duration-seconds must be a positive number");
                    break;
                default:
                    throw new UsageException($"unknown flag: {flag}");
            }
        }
        if (server is null || !Uri.TryCreate(server, UriKind.Absolute, out var serverUri) || serverUri.Scheme != "https")
        {
            throw new UsageException("--server https://HOST:PORT is required");
        }
        if (string.IsNullOrEmpty(token))
        {
            throw new UsageException("--token is required (the server writes it to DATA_DIR/token)");
        }
        using var cts = new CancellationTokenSource();
        using var signals = CancelOnSignals(cts);
        using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Information));
        Tugboat.Client.ClientConfig config;
        try
        {
            config = await Tugboat.Agent.Join.ResolveAsync(serverUri, token, caFile, cts.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is InvalidOperationException or HttpRequestException)
        {
            return Fail(e.Message);
        }
        if (hollow == 0)
        {
            var options = new Tugboat.Agent.Kubelet.AgentOptions
            {
                DataDir = Path.GetFullPath(dataDir),
                Token = token,
                NodeName = nodeName ?? System.Net.Dns.GetHostName().ToLowerInvariant(),
                NodeIp = nodeIp,
                KubeletPort = kubeletPort,
                IngressHttpPort = ingressHttp,
                IngressHttpsPort = ingressHttps,
                ProxyMode = proxyMode,
                LeaseDurationSeconds = leaseSeconds,
                Runtime = runtime,
                ContainerRuntimeEndpoint = runtimeEndpoint,
            };
            await RunAgentAsync(config, options, loggers, cts.Token).ConfigureAwait(false);
            return 0;
        }
        using var client = new Tugboat.Client.ApiClient(config, "tug-hollow-agent");
        var nodes = new Tugboat.Agent.Runtimes.Hollow.HollowNodes(client, nodeName ?? "hollow", hollow, loggers.CreateLogger("hollow")) { LeaseDurationSeconds = leaseSeconds };
        try
        {
            await nodes.RunAsync(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
        }
        return 0;
    }

    /// <summary>Runs a node agent with the process runtime and its HTTPS endpoint until <paramref name="ct"/> ends.</summary>
    private static async Task RunAgentAsync(Tugboat.Client.ClientConfig config, Tugboat.Agent.Kubelet.AgentOptions options, ILoggerFactory loggers, CancellationToken ct)
    {
        try
        {
            await RunAgentCoreAsync(config, options, loggers, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The control plane keeps serving when the embedded agent cannot run; say why instead of failing silently.
            Console.Error.WriteLine($"Error: node agent: {e.Message}");
            throw;
        }
    }

    private static async Task RunAgentCoreAsync(Tugboat.Client.ClientConfig config, Tugboat.Agent.Kubelet.AgentOptions options, ILoggerFactory loggers, CancellationToken ct)
    {
        using var client = new Tugboat.Client.ApiClient(config, "tug-agent/" + options.NodeName);
        var logger = loggers.CreateLogger("agent");
        var (runtime, runtimeOptions, owner) = await Tugboat.Agent.Runtimes.RuntimeChoice.StartAsync(options, logger, ct).ConfigureAwait(false);
        await using var owned = owner;
        options = runtimeOptions;
        var agent = new Tugboat.Agent.Kubelet.NodeAgent(client, runtime, options, logger);
        var (port, endpoint) = await Tugboat.Agent.Server.KubeletServer.StartAsync(agent, agent.NodeIp, options.KubeletPort, options.Token, loggers, ct).ConfigureAwait(false);
        agent.KubeletPort = port;
        try
        {
            await agent.RunAsync(ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        await endpoint.ConfigureAwait(false);
    }

    private static async Task<int> ImagesAsync(string[] args)
    {
        var dataDir = ServerOptions.DefaultDataDir();
        var files = new List<string>();
        for (var i = 1; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--data-dir" or "-d" when i + 1 < args.Length:
                    dataDir = args[++i];
                    break;
                case var a when a.StartsWith("--data-dir=", StringComparison.Ordinal):
                    dataDir = a[11..];
                    break;
                case var a when a.StartsWith('-'):
                    throw new UsageException($"unknown flag: {a}");
                default:
                    files.Add(args[i]);
                    break;
            }
        }
        // A server's data directory holds its agent's under agent/; an agent's own is used as given.
        var agentDir = Directory.Exists(Path.Combine(dataDir, "agent", "containerd")) ? Path.Combine(dataDir, "agent") : dataDir;
        try
        {
            switch (args.FirstOrDefault())
            {
                case "import" when files.Count > 0:
                    foreach (var line in await Tugboat.Agent.Runtimes.Cri.Images.ImageCommands.ImportAsync(agentDir, files, CancellationToken.None).ConfigureAwait(false))
                    {
                        Console.WriteLine(line);
                    }
                    return 0;
                case "ls" or "list" when files.Count == 0:
                    Console.Write(await Tugboat.Agent.Runtimes.Cri.Images.ImageCommands.ListAsync(agentDir, CancellationToken.None).ConfigureAwait(false));
                    return 0;
                default:
                    throw new UsageException("usage: tug images import FILE... [--data-dir DIR] | tug images ls [--data-dir DIR]");
            }
        }
        catch (Exception e) when (e is InvalidOperationException or Grpc.Core.RpcException)
        {
            return Fail(e.Message);
        }
    }

    private static async Task<int> KillAllAsync(string[] args)
    {
        var dataDir = ServerOptions.DefaultDataDir();
        for (var i = 0; i < args.Length; i++)
        {
            dataDir = args[i] switch
            {
                "--data-dir" or "-d" when i + 1 < args.Length => args[++i],
                var a when a.StartsWith("--data-dir=", StringComparison.Ordinal) => a[11..],
                _ => throw new UsageException($"unknown flag: {args[i]}"),
            };
        }
        // The server's data directory holds the embedded agent's under agent/; an agent's own is used as given.
        static bool HasAgent(string dir) => Directory.Exists(Path.Combine(dir, "runtime")) || Directory.Exists(Path.Combine(dir, "containerd"));
        var agentDir = HasAgent(Path.Combine(dataDir, "agent")) ? Path.Combine(dataDir, "agent") : dataDir;
        if (!HasAgent(agentDir))
        {
            return Fail($"no node agent state in {dataDir}");
        }
        // Image pods first (containerd's sandboxes, then containerd itself), then the process runtime's pods and the network.
        await Tugboat.Agent.Runtimes.RuntimeChoice.KillAllAsync(agentDir, CancellationToken.None).ConfigureAwait(false);
        var runtime = new Tugboat.Agent.Runtimes.Process.ProcessRuntime(Path.Combine(agentDir, "runtime"));
        await Tugboat.Agent.Kubelet.NodeAgent.KillAllAsync(agentDir, runtime, CancellationToken.None).ConfigureAwait(false);
        return 0;
    }

    private static async Task<int> ServerAsync(string[] args)
    {
        var options = new ServerOptions();
        for (var i = 0; i < args.Length; i++)
        {
            var (flag, inline) = args[i].Split('=', 2) is [var f, var v] ? (f, v) : (args[i], null);
            string Value() => inline ?? (i + 1 < args.Length ? args[++i] : throw new UsageException($"flag needs an argument: {flag}"));
            options = flag switch
            {
                "--data-dir" or "-d" => options with { DataDir = Value() },
                "--port" or "--https-listen-port" => options with { Port = int.TryParse(Value(), NumberStyles.None, CultureInfo.InvariantCulture, out var p) && p is > 0 and < 65536 ? p : throw new UsageException($"invalid port for {flag}") },
                "--bind-address" => options with { BindAddress = System.Net.IPAddress.TryParse(Value(), out var a) ? a.ToString() : throw new UsageException("invalid --bind-address") },
                "--disable-agent" => options with { DisableAgent = true },
                "--disable-controllers" => options with { DisableControllers = true },
                "--runtime" => options with { Runtime = Value() is var r && r is "auto" or "process" or "containerd" ? r : throw new UsageException("--runtime must be auto, process or containerd") },
                "--container-runtime-endpoint" => options with { ContainerRuntimeEndpoint = Value() is var e && e.StartsWith("unix:///", StringComparison.Ordinal) ? e : throw new UsageException("--container-runtime-endpoint must be unix:///PATH"), Runtime = "containerd" },
                "--datastore-endpoint" => options with { DatastoreEndpoint = Value() },
                "--node-monitor-grace-period" => options with { NodeMonitorGracePeriod = Duration(flag, Value()) },
                "--default-not-ready-toleration-seconds" => options with { DefaultNotReadyTolerationSeconds = Seconds(flag, Value()) },
                "--default-unreachable-toleration-seconds" => options with { DefaultUnreachableTolerationSeconds = Seconds(flag, Value()) },
                "--max-requests-inflight" => options with { MaxRequestsInflight = int.TryParse(Value(), NumberStyles.None, CultureInfo.InvariantCulture, out var ro) ? ro : throw new UsageException("--max-requests-inflight takes a number of requests (0 with --max-mutating-requests-inflight 0: no limit)") },
                "--max-mutating-requests-inflight" => options with { MaxMutatingRequestsInflight = int.TryParse(Value(), NumberStyles.None, CultureInfo.InvariantCulture, out var rw) ? rw : throw new UsageException("--max-mutating-requests-inflight takes a number of requests") },
                "--terminated-pod-gc-threshold" => options with { TerminatedPodGcThreshold = int.TryParse(Value(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var gc) ? gc : throw new UsageException("--terminated-pod-gc-threshold takes a number of pods") },
                "--service-cidr" => options with { ServiceCidr = System.Net.IPNetwork.TryParse(Value(), out var svc) && svc.BaseAddress.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && svc.PrefixLength is >= 12 and <= 28 ? svc.ToString() : throw new UsageException("--service-cidr must be an IPv4 range between /12 and /28") },
                "--node-name" => options with { NodeName = Value() },
                "--node-ip" => options with { NodeIp = System.Net.IPAddress.TryParse(Value(), out var nip) ? nip.ToString() : throw new UsageException("invalid --node-ip") },
                "--kubelet-port" => options with { KubeletPort = int.TryParse(Value(), NumberStyles.None, CultureInfo.InvariantCulture, out var kp) && kp < 65536 ? kp : throw new UsageException("invalid --kubelet-port") },
                "--ingress-http-port" => options with { IngressHttpPort = Port(flag, Value()) },
                "--ingress-https-port" => options with { IngressHttpsPort = Port(flag, Value()) },
                "--proxy-mode" => options with { ProxyMode = ProxyMode(Value()).ToString().ToLowerInvariant() },
                "--cluster-cidr" => options with { ClusterCidr = System.Net.IPNetwork.TryParse(Value(), out var cidr) && cidr.BaseAddress.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && cidr.PrefixLength <= 24 ? cidr.ToString() : throw new UsageException("--cluster-cidr must be an IPv4 range of /24 or larger") },
                _ => throw new UsageException($"unknown flag: {flag}"),
            };
        }
        using var cts = new CancellationTokenSource();
        using var signals = CancelOnSignals(cts);
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        LocalTransport? local = null;
        var server = ApiServerHost.RunAsync(options, line =>
        {
            Console.WriteLine(line);
            ready.TrySetResult();
        }, cts.Token, transport => local = transport);
        await Task.WhenAny(ready.Task, server).ConfigureAwait(false);
        using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning));
        // The controller manager is a client of the API like any other, with the admin credentials, through the API
        // server's in-process transport (the same requests as over HTTPS, without TLS and sockets).
        var kubeconfig = Path.Combine(Path.GetFullPath(options.DataDir), "kubeconfig.yaml");
        var controllers = ready.Task.IsCompletedSuccessfully && !options.DisableControllers
            ? ControllerManager.RunAsync(kubeconfig, loggers, cts.Token, options.NodeMonitorGracePeriod, options.TerminatedPodGcThreshold, config => local!.CreateHandler(config.ClientCertificate))
            : Task.CompletedTask;
        var agentLoggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Information));
        var agent = ready.Task.IsCompletedSuccessfully && !options.DisableAgent
            ? RunAgentAsync(Tugboat.Client.ClientConfig.FromKubeconfig(kubeconfig), new Tugboat.Agent.Kubelet.AgentOptions
            {
                DataDir = Path.Combine(Path.GetFullPath(options.DataDir), "agent"),
                Token = File.ReadAllText(Path.Combine(Path.GetFullPath(options.DataDir), "token")).Trim(),
                NodeName = options.NodeName ?? System.Net.Dns.GetHostName().ToLowerInvariant(),
                NodeIp = options.NodeIp,
                KubeletPort = options.KubeletPort,
                IngressHttpPort = options.IngressHttpPort,
                IngressHttpsPort = options.IngressHttpsPort,
                ProxyMode = ProxyMode(options.ProxyMode),
                ClusterCidr = System.Net.IPNetwork.Parse(options.ClusterCidr),
                ServiceCidr = System.Net.IPNetwork.Parse(options.ServiceCidr),
                Labels = new Dictionary<string, string> { ["node-role.kubernetes.io/control-plane"] = "true" },
                Runtime = options.Runtime,
                ContainerRuntimeEndpoint = options.ContainerRuntimeEndpoint,
            }, agentLoggers, cts.Token)
            : Task.CompletedTask;
        try
        {
            await server.ConfigureAwait(false);
        }
        catch (Exception e) when (e is NotSupportedException or ConfigurationException)
        {
            return Fail(e.Message);
        }
        try
        {
            await controllers.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        try
        {
            await agent.ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return Fail("node agent: " + e.Message);
        }
        catch (OperationCanceledException)
        {
        }
        agentLoggers.Dispose();
        return 0;
    }

    private sealed class UsageException(string message) : Exception(message);
}
