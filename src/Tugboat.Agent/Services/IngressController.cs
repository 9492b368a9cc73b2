using System.Diagnostics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Tugboat.Client;
using Tugboat.Network;
using Tugboat.Network.Ingress;

namespace Tugboat.Agent.Services;

/// <summary>
/// The node's Ingress controller: nginx (Debian's nginx-light) run by the agent and configured from the Ingresses of
/// the <c>tugboat</c> IngressClass (created as the default class), the Services and EndpointSlices they name and their
/// TLS Secrets. A new configuration is checked with <c>nginx -t</c> before nginx reloads it, so a bad one never replaces
/// a working one; missing Services and Secrets become Warning events on the Ingress while its other routes keep working.
/// </summary>
internal sealed partial class IngressController(ApiClient client, string stateDir, string nodeIp, int httpPort, int httpsPort, ILogger logger)
{
    public const string ClassName = "tugboat";
    public const string ControllerName = "tugboat.dev/ingress-nginx";

    private readonly EventRecorder _events = new(client, "tugboat-ingress");
    private readonly HashSet<string> _reported = new(StringComparer.Ordinal);
    private string? _applied;
    private Process? _nginx;

    /// <summary>How nginx is configured here (addresses, ports, default certificate); set by <see cref="StartAsync"/>.</summary>
    private NginxConfig? _config;

    public Informer Ingresses { get; } = new(client, "/apis/networking.k8s.io/v1/ingresses") { StripManagedFields = true };

    public Informer Classes { get; } = new(client, "/apis/networking.k8s.io/v1/ingressclasses") { StripManagedFields = true };

    public Informer Secrets { get; } = new(client, "/api/v1/secrets") { StripManagedFields = true };

    private string ConfigPath => Path.Combine(stateDir, "nginx.conf");

    /// <summary>The nginx binary of this machine, or null.</summary>
    public static string? FindNginx() => new[] { "/usr/sbin/nginx", "/usr/bin/nginx" }.FirstOrDefault(File.Exists);

    public async Task StartAsync(CancellationToken ct)
    {
        Directory.CreateDirectory(Path.Combine(stateDir, "tmp"));
        Directory.CreateDirectory(Path.Combine(stateDir, "certs"));
        await EnsureClassAsync(ct).ConfigureAwait(false);
        Stop(stateDir);
        _config = new NginxConfig
        {
            StateDir = stateDir,
            Addresses = nodeIp == "127.0.0.1" ? ["127.0.0.1"] : ["127.0.0.1", nodeIp],
            HttpPort = httpPort,
            HttpsPort = httpsPort,
            DefaultCertificate = DefaultCertificate(),
        };
        await File.WriteAllTextAsync(ConfigPath, _config.Render(IngressTable.Build([], [], [], [])), ct).ConfigureAwait(false);
        _ = Task.Run(() => SuperviseAsync(ct), CancellationToken.None);
        _ = _events.RunAsync(ct);
    }

    /// <summary>The <c>tugboat</c> IngressClass, marked as the cluster's default, unless it exists.</summary>
    private async Task EnsureClassAsync(CancellationToken ct)
    {
        try
        {
            await client.CreateAsync("/apis/networking.k8s.io/v1/ingressclasses", new JsonObject
            {
                ["apiVersion"] = "networking.k8s.io/v1",
                ["kind"] = "IngressClass",
                ["metadata"] = new JsonObject { ["name"] = ClassName, ["annotations"] = new JsonObject { [IngressTable.DefaultClassAnnotation] = "true" } },
                ["spec"] = new JsonObject { ["controller"] = ControllerName },
            }, ct).ConfigureAwait(false);
        }
        catch (ApiError e) when (e.IsAlreadyExists)
        {
        }
    }

    /// <summary>A self-signed certificate for names no Ingress TLS secret covers (ingress-nginx's "fake certificate").</summary>
    private (string, string) DefaultCertificate()
    {
        var crt = Path.Combine(stateDir, "default.crt");
        var key = Path.Combine(stateDir, "default.key");
        if (!File.Exists(crt) || !File.Exists(key))
        {
            using var ecdsa = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest("CN=Tugboat Ingress Default Certificate", ecdsa, HashAlgorithmName.SHA256);
            using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(10));
            File.WriteAllText(key, ecdsa.ExportPkcs8PrivateKeyPem());
            File.WriteAllText(crt, cert.ExportCertificatePem());
        }
        return (crt, key);
    }

    /// <summary>
    /// Stops the nginx of an agent's ingress state directory, if one runs (an agent that was killed leaves it holding
    /// the ports; <c>tug killall</c> ends it too).
    /// </summary>
    public static void Stop(string stateDir)
    {
        var pidFile = Path.Combine(stateDir, "nginx.pid");
        if (File.Exists(pidFile) && int.TryParse(File.ReadAllText(pidFile).Trim(), out var pid)
            && File.Exists($"/proc/{pid}/cmdline") && File.ReadAllText($"/proc/{pid}/cmdline").Contains(Path.Combine(stateDir, "nginx.conf"), StringComparison.Ordinal))
        {
            try
            {
                using var stale = Process.GetProcessById(pid);
                stale.Kill(entireProcessTree: true);
                stale.WaitForExit(5000);
            }
            catch (ArgumentException)
            {
            }
        }
    }

    /// <summary>Runs nginx, restarting it if it ends, and stops it when the agent stops.</summary>
    private async Task SuperviseAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            var psi = new ProcessStartInfo(FindNginx()!) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
            foreach (var a in (string[])["-c", ConfigPath, "-e", Path.Combine(stateDir, "error.log")])
            {
                psi.ArgumentList.Add(a);
            }
            using var nginx = Process.Start(psi)!;
            _nginx = nginx;
            var stderr = nginx.StandardError.ReadToEndAsync(CancellationToken.None);
            try
            {
                await nginx.WaitForExitAsync(ct).ConfigureAwait(false);
                LogNginxExited(nginx.ExitCode, (await stderr.ConfigureAwait(false)).Trim());
                await Task.Delay(TimeSpan.FromSeconds(1), ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                try
                {
                    nginx.Kill(entireProcessTree: true);
                }
                catch (InvalidOperationException)
                {
                }
                return;
            }
        }
    }

    /// <summary>Brings nginx and the Ingresses' status and events in step with the cluster.</summary>
    public async Task SyncAsync(List<JsonObject> services, List<JsonObject> slices, CancellationToken ct)
    {
        var classes = Classes.List().Where(c => c["spec"]?["controller"]?.GetValue<string>() == ControllerName).ToList();
        var ours = Ingresses.List().Where(i => IngressTable.IsOurs(i, classes)).ToList();
        var table = IngressTable.Build(ours, services, slices, Secrets.List());
        var config = _config ?? throw new InvalidOperationException("the ingress controller has not started");
        foreach (var (key, (certificate, privateKey)) in table.Certificates)
        {
            await WriteIfChangedAsync(config.CertificatePath(key), certificate, ct).ConfigureAwait(false);
            await WriteIfChangedAsync(config.KeyPath(key), privateKey, ct).ConfigureAwait(false);
        }
        var text = config.Render(table);
        if (text != _applied)
        {
            var candidate = ConfigPath + ".new";
            await File.WriteAllTextAsync(candidate, text, ct).ConfigureAwait(false);
            try
            {
                await HostCommand.RunAsync(FindNginx()!, ["-t", "-q", "-c", candidate, "-e", Path.Combine(stateDir, "error.log")], ct).ConfigureAwait(false);
            }
            catch (InvalidOperationException e)
            {
                LogRejected(e.Message);
                _applied = text;
                return;
            }
            File.Move(candidate, ConfigPath, overwrite: true);
            if (_nginx is { HasExited: false })
            {
                await HostCommand.RunAsync(FindNginx()!, ["-s", "reload", "-c", ConfigPath, "-e", Path.Combine(stateDir, "error.log")], ct).ConfigureAwait(false);
            }
            _applied = text;
        }
        foreach (var (ingress, reason, message) in table.Problems)
        {
            if (_reported.Add($"{ingress}|{message}") && Ingresses.Get(ingress) is { } obj)
            {
                _events.Record(obj, "networking.k8s.io/v1", "Ingress", "Warning", reason, message);
            }
        }
        foreach (var ingress in table.Ingresses)
        {
            await UpdateStatusAsync(ingress, ct).ConfigureAwait(false);
        }
    }

    private static async Task WriteIfChangedAsync(string path, string content, CancellationToken ct)
    {
        if (!File.Exists(path) || await File.ReadAllTextAsync(path, ct).ConfigureAwait(false) != content)
        {
            await File.WriteAllTextAsync(path, content, ct).ConfigureAwait(false);
        }
    }

    /// <summary>The node's address in status.loadBalancer.ingress (kept with those other nodes put there).</summary>
    private async Task UpdateStatusAsync(JsonObject ingress, CancellationToken ct)
    {
        var current = ingress["status"]?["loadBalancer"]?["ingress"]?.AsArray().Select(i => i?["ip"]?.GetValue<string>()).OfType<string>().ToList() ?? [];
        if (current.Contains(nodeIp))
        {
            return;
        }
        var wanted = current.Append(nodeIp).Order(StringComparer.Ordinal).Select(ip => (JsonNode)new JsonObject { ["ip"] = ip }).ToArray();
        var meta = ingress["metadata"]!;
        try
        {
            await client.MergePatchAsync($"/apis/networking.k8s.io/v1/namespaces/{meta["namespace"]}/ingresses/{meta["name"]}/status",
                new JsonObject { ["status"] = new JsonObject { ["loadBalancer"] = new JsonObject { ["ingress"] = new JsonArray(wanted) } } }, ct).ConfigureAwait(false);
        }
        catch (ApiError e) when (e.IsNotFound)
        {
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "ingress: nginx exited with {Code}: {Error}")]
    private partial void LogNginxExited(int code, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "ingress: nginx refused the new configuration, the previous one stays: {Error}")]
    private partial void LogRejected(string error);
}
