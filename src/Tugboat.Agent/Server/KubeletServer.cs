using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Tugboat.Agent.Kubelet;
using Tugboat.Api.Serialization;

namespace Tugboat.Agent.Server;

/// <summary>
/// The agent's HTTPS endpoint (the kubelet's port 10250) that the API server calls for pod logs, exec and resource metrics. It presents a
/// self-signed certificate (as a kubelet does without serving-certificate rotation) and answers only requests carrying
/// the node token.
/// </summary>
public static class KubeletServer
{
    /// <summary>Listens on the node's address; returns the bound port once listening, and runs until <paramref name="ct"/> ends.</summary>
    public static async Task<(int Port, Task Running)> StartAsync(NodeAgent agent, string address, int port, string token, ILoggerFactory loggers, CancellationToken ct)
    {
        // An empty builder, as the API server's: no configuration files from the working directory, nothing watching it.
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore();
        builder.Services.AddRoutingCore();
        var certificate = SelfSigned(agent.NodeName, address);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(IPAddress.Parse(address), port, o =>
            {
                o.Protocols = HttpProtocols.Http1AndHttp2;
                o.UseHttps(certificate);
            });
        });
        var app = builder.Build();
        app.Use(async (http, next) =>
        {
            var header = http.Request.Headers.Authorization.ToString();
            if (!header.StartsWith("Bearer ", StringComparison.Ordinal) || !CryptographicOperations.FixedTimeEquals(System.Text.Encoding.UTF8.GetBytes(header[7..]), System.Text.Encoding.UTF8.GetBytes(token)))
            {
                http.Response.StatusCode = 401;
                await http.Response.WriteAsync("Unauthorized").ConfigureAwait(false);
                return;
            }
            await next(http).ConfigureAwait(false);
        });
        app.UseWebSockets();
        app.MapGet("/healthz", () => "ok");
        app.MapGet("/attach/{ns}/{pod}/{container}", (HttpContext http, string ns, string pod, string container) => AttachSession.HandleAsync(agent, http, ns, pod, container));
        app.MapGet("/portForward/{ns}/{pod}", (HttpContext http, string ns, string pod) => PortForwardSession.HandleAsync(agent, http, ns, pod));
        app.MapGet("/stats/resource", (HttpContext http) => http.Response.WriteAsync(agent.Stats.Snapshot().ToJsonString(JsonLimits.Writer)));
        app.MapGet("/exec/{ns}/{pod}/{container}", (HttpContext http, string ns, string pod, string container) => ExecSession.HandleAsync(agent, http, ns, pod, container));
        app.MapGet("/containerLogs/{ns}/{pod}/{container}", (HttpContext http, string ns, string pod, string container) => LogsAsync(agent, http, ns, pod, container));
        await app.StartAsync(ct).ConfigureAwait(false);
        var bound = app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>().Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()!.Addresses
            .Select(a => new Uri(a.Replace("0.0.0.0", "localhost", StringComparison.Ordinal)).Port).First();
        var running = Task.Run(async () =>
        {
            try
            {
                await Task.Delay(Timeout.Infinite, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
            await app.StopAsync(CancellationToken.None).ConfigureAwait(false);
            await app.DisposeAsync().ConfigureAwait(false);
        }, CancellationToken.None);
        return (bound, running);
    }

    private static async Task LogsAsync(NodeAgent agent, HttpContext http, string ns, string pod, string container)
    {
        var q = http.Request.Query;
        static bool Flag(string? v) => v is "true" or "1";
        var (current, previous) = agent.LogFiles(ns, pod, container);
        var file = Flag(q["previous"]) ? previous : current;
        if (file is null)
        {
            http.Response.StatusCode = 404;
            await http.Response.WriteAsync(Flag(q["previous"])
                ? $"previous terminated container \"{container}\" in pod \"{pod}\" not found"
                : $"container \"{container}\" in pod \"{pod}\" has no logs").ConfigureAwait(false);
            return;
        }
        DateTimeOffset? since = null;
        if (long.TryParse(q["sinceSeconds"], NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
        {
            since = DateTimeOffset.UtcNow.AddSeconds(-seconds);
        }
        else if (DateTimeOffset.TryParse(q["sinceTime"], CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var sinceTime))
        {
            since = sinceTime;
        }
        var options = new LogOptions(
            Flag(q["follow"]) && !Flag(q["previous"]),
            long.TryParse(q["tailLines"], NumberStyles.Integer, CultureInfo.InvariantCulture, out var tail) && tail >= 0 ? tail : null,
            since,
            Flag(q["timestamps"]),
            long.TryParse(q["limitBytes"], NumberStyles.None, CultureInfo.InvariantCulture, out var limit) && limit > 0 ? limit : null);
        http.Response.ContentType = "text/plain";
        // Following ends when the attempt that writes this file stops: a newer attempt means it did.
        bool Running() => agent.LogFiles(ns, pod, container).Current == file && agent.RunningContainer(ns, pod, container) is not null;
        try
        {
            await ContainerLogReader.CopyAsync(file, options, http.Response.Body, Running, http.RequestAborted).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static X509Certificate2 SelfSigned(string nodeName, string address)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={nodeName}@{DateTimeOffset.UtcNow.ToUnixTimeSeconds()}", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(nodeName);
        if (IPAddress.TryParse(address, out var ip))
        {
            san.AddIpAddress(ip);
        }
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddYears(1));
        return X509CertificateLoader.LoadPkcs12(cert.Export(X509ContentType.Pkcs12), null);
    }
}
