using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Tugboat.Agent.Runtime;

namespace Tugboat.Agent.Probes;

/// <summary>One probe attempt's outcome; <see cref="Message"/> is upstream's wording for a failure.</summary>
internal readonly record struct ProbeResult(bool Success, string Message);

/// <summary>Runs one attempt of a container probe (exec, httpGet, tcpSocket, grpc) as the kubelet's prober does.</summary>
internal sealed class Prober : IDisposable
{
    private readonly HttpClient _http;
    private readonly HttpClient _h2c;

    public Prober()
    {
        // Probes skip certificate checks and do not follow redirects to other hosts, as upstream.
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseProxy = false,
            UseCookies = false,
            SslOptions = { RemoteCertificateValidationCallback = (_, _, _, _) => true },
            PooledConnectionLifetime = TimeSpan.Zero,
        };
        _http = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.UserAgent.ParseAdd("kube-probe/1.30");
        _h2c = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { Timeout = Timeout.InfiniteTimeSpan, DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
    }

    public async Task<ProbeResult> ProbeAsync(JsonObject probe, JsonObject container, string host, IContainerRuntime? runtime, string? containerId, CancellationToken ct)
    {
        var timeout = TimeSpan.FromSeconds(Math.Max(1, probe["timeoutSeconds"]?.GetValue<int>() ?? 1));
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        try
        {
            if (probe["exec"] is JsonObject e)
            {
                return runtime is IExecSyncRuntime sync && containerId is not null
                    ? await ExecSyncAsync(e, sync, containerId, timeout, cts.Token).ConfigureAwait(false)
                    : await ExecAsync(e, runtime as IExecRuntime, containerId, timeout, cts.Token).ConfigureAwait(false);
            }
            if (probe["httpGet"] is JsonObject h)
            {
                return await HttpAsync(h, container, host, timeout, cts.Token).ConfigureAwait(false);
            }
            if (probe["tcpSocket"] is JsonObject t)
            {
                return await TcpAsync(t, container, host, timeout, cts.Token).ConfigureAwait(false);
            }
            if (probe["grpc"] is JsonObject g)
            {
                return await GrpcAsync(g, host, timeout, cts.Token).ConfigureAwait(false);
            }
            return new ProbeResult(false, "missing probe handler");
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return new ProbeResult(false, $"probe timed out after {timeout.TotalSeconds:0}s");
        }
    }

    /// <summary>A port number, or a named port of the container.</summary>
    public static int? Port(JsonNode? port, JsonObject container)
    {
        if (port is JsonValue v && v.TryGetValue<int>(out var n))
        {
            return n;
        }
        var name = port?.ToString();
        if (int.TryParse(name, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed))
        {
            return parsed;
        }
        return container["ports"]?.AsArray().OfType<JsonObject>().FirstOrDefault(p => p["name"]?.GetValue<string>() == name)?["containerPort"]?.GetValue<int>();
    }

    /// <summary>An exec probe or hook run by the runtime itself (the CRI's ExecSync).</summary>
    private static async Task<ProbeResult> ExecSyncAsync(JsonObject e, IExecSyncRuntime exec, string containerId, TimeSpan timeout, CancellationToken ct)
    {
        var command = e["command"]?.AsArray().Select(c => c!.GetValue<string>()).ToList() ?? [];
        if (command.Count == 0)
        {
            return new ProbeResult(false, "exec probes need a command");
        }
        try
        {
            var (exitCode, output) = await exec.ExecSyncAsync(containerId, command, timeout, ct).ConfigureAwait(false);
            return exitCode == 0 ? new ProbeResult(true, output) : new ProbeResult(false, output.TrimEnd('\n').Length > 0 ? output.TrimEnd('\n') : $"command \"{string.Join(' ', command)}\" exited with {exitCode}");
        }
        catch (Exception ex) when (ex is TimeoutException or ContainerStartException || ex is OperationCanceledException && !ct.IsCancellationRequested)
        {
            return new ProbeResult(false, ex is TimeoutException or OperationCanceledException ? $"command \"{string.Join(' ', command)}\" timed out" : ex.Message);
        }
    }

    private static async Task<ProbeResult> ExecAsync(JsonObject e, IExecRuntime? exec, string? containerId, TimeSpan timeout, CancellationToken ct)
    {
        var command = e["command"]?.AsArray().Select(c => c!.GetValue<string>()).ToList() ?? [];
        if (exec is null || containerId is null || command.Count == 0)
        {
            return new ProbeResult(false, "exec probes need a running container and a command");
        }
        System.Diagnostics.Process process;
        try
        {
            process = exec.Exec(containerId, command, redirectStdin: false);
        }
        catch (ContainerStartException ex)
        {
            return new ProbeResult(false, ex.Message);
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync(ct);
            var stderr = process.StandardError.ReadToEndAsync(ct);
            try
            {
                await process.WaitForExitAsync(ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                return new ProbeResult(false, $"command \"{string.Join(' ', command)}\" timed out");
            }
            var output = (await stdout.ConfigureAwait(false)) + (await stderr.ConfigureAwait(false));
            return process.ExitCode == 0 ? new ProbeResult(true, output) : new ProbeResult(false, output.TrimEnd('\n').Length > 0 ? output.TrimEnd('\n') : $"command \"{string.Join(' ', command)}\" exited with {process.ExitCode}");
        }
    }

    private async Task<ProbeResult> HttpAsync(JsonObject h, JsonObject container, string podHost, TimeSpan timeout, CancellationToken ct)
    {
        var scheme = (h["scheme"]?.GetValue<string>() ?? "HTTP").ToLowerInvariant();
        var host = h["host"]?.GetValue<string>() is { Length: > 0 } explicitHost ? explicitHost : podHost;
        var port = Port(h["port"], container) ?? 0;
        var path = h["path"]?.GetValue<string>() ?? "/";
        if (!path.StartsWith('/'))
        {
            path = "/" + path;
        }
        var url = $"{scheme}://{(host.Contains(':', StringComparison.Ordinal) ? $"[{host}]" : host)}:{port}{path}";
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Accept.ParseAdd("*/*");
        foreach (var header in h["httpHeaders"]?.AsArray().OfType<JsonObject>() ?? [])
        {
            var name = header["name"]!.GetValue<string>();
            request.Headers.Remove(name);
            request.Headers.TryAddWithoutValidation(name, header["value"]?.GetValue<string>() ?? string.Empty);
        }
        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
            var code = (int)response.StatusCode;
            return code is >= 200 and < 400 ? new ProbeResult(true, string.Empty) : new ProbeResult(false, $"HTTP probe failed with statuscode: {code}");
        }
        catch (HttpRequestException e)
        {
            return new ProbeResult(false, $"Get \"{url}\": {Dial(host, port, e.InnerException as SocketException ?? (Exception)e)}");
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested || ct.IsCancellationRequested)
        {
            return new ProbeResult(false, $"Get \"{url}\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)");
        }
    }

    private static string Dial(string host, int port, Exception e) => e is SocketException s
        ? $"dial tcp {host}:{port}: connect: {s.SocketErrorCode switch { SocketError.ConnectionRefused => "connection refused", SocketError.NetworkUnreachable => "network is unreachable", SocketError.HostUnreachable => "no route to host", _ => s.Message }}"
        : e.Message;

    private static async Task<ProbeResult> TcpAsync(JsonObject t, JsonObject container, string podHost, TimeSpan timeout, CancellationToken ct)
    {
        var host = t["host"]?.GetValue<string>() is { Length: > 0 } explicitHost ? explicitHost : podHost;
        var port = Port(t["port"], container) ?? 0;
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await socket.ConnectAsync(IPAddress.Parse(host), port, ct).ConfigureAwait(false);
            return new ProbeResult(true, string.Empty);
        }
        catch (SocketException e)
        {
            return new ProbeResult(false, Dial(host, port, e));
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested || ct.IsCancellationRequested)
        {
            return new ProbeResult(false, $"dial tcp {host}:{port}: i/o timeout");
        }
    }

    /// <summary>The gRPC health checking protocol (grpc.health.v1.Health/Check) over cleartext HTTP/2.</summary>
    private async Task<ProbeResult> GrpcAsync(JsonObject g, string host, TimeSpan timeout, CancellationToken ct)
    {
        var port = g["port"]?.GetValue<int>() ?? 0;
        var service = Encoding.UTF8.GetBytes(g["service"]?.GetValue<string>() ?? string.Empty);
        // HealthCheckRequest { string service = 1; } framed as a gRPC message: flag byte, big-endian length, payload.
        var message = new List<byte>();
        if (service.Length > 0)
        {
            message.Add(0x0A);
            message.AddRange(Varint((ulong)service.Length));
            message.AddRange(service);
        }
        var frame = new byte[5 + message.Count];
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)message.Count);
        message.CopyTo(frame, 5);
        using var request = new HttpRequestMessage(HttpMethod.Post, $"http://{host}:{port}/grpc.health.v1.Health/Check") { Content = new ByteArrayContent(frame) };
        request.Content.Headers.TryAddWithoutValidation("Content-Type", "application/grpc");
        request.Headers.TryAddWithoutValidation("TE", "trailers");
        try
        {
            using var response = await _h2c.SendAsync(request, ct).ConfigureAwait(false);
            var body = await response.Content.ReadAsByteArrayAsync(ct).ConfigureAwait(false);
            var grpcStatus = response.TrailingHeaders.TryGetValues("grpc-status", out var values) ? values.First()
                : response.Headers.TryGetValues("grpc-status", out var early) ? early.First() : "0";
            if (grpcStatus != "0")
            {
                return new ProbeResult(false, $"rpc error: code = {grpcStatus}");
            }
            // HealthCheckResponse { ServingStatus status = 1; }: SERVING is 1.
            var status = body.Length >= 7 && body[5] == 0x08 ? body[6] : 0;
            return status == 1 ? new ProbeResult(true, string.Empty) : new ProbeResult(false, $"service unhealthy (responded with \"{status switch { 2 => "NOT_SERVING", 3 => "SERVICE_UNKNOWN", _ => "UNKNOWN" }}\")");
        }
        catch (HttpRequestException e)
        {
            return new ProbeResult(false, $"failed to connect service \"{host}:{port}\" within {timeout.TotalSeconds:0}s: {e.Message}");
        }
    }

    private static IEnumerable<byte> Varint(ulong value)
    {
        while (value >= 0x80)
        {
            yield return (byte)(value | 0x80);
            value >>= 7;
        }
        yield return (byte)value;
    }

    public void Dispose()
    {
        _http.Dispose();
        _h2c.Dispose();
    }
}
