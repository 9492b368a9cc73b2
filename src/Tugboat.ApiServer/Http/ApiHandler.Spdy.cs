using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Tugboat.Api.Serialization;
using Tugboat.ApiServer.Http.Spdy;
using Tugboat.ApiServer.Registry;

namespace Tugboat.ApiServer.Http;

/// <summary>
/// SPDY/3.1 upgrades for pods/exec (kubectl before 1.30, streams stdin/stdout/stderr/error/resize) and pods/portforward
/// (every kubectl: data and error stream per connection). The API server speaks SPDY to the client and WebSocket to
/// the node agent.
/// </summary>
internal sealed partial class ApiHandler
{
    private static bool IsSpdyUpgrade(HttpContext http) =>
        http.Request.Headers.Upgrade.ToString().StartsWith("SPDY/3.1", StringComparison.OrdinalIgnoreCase)
        && http.Features.Get<IHttpUpgradeFeature>() is { IsUpgradableRequest: true };

    /// <summary>Switches the connection to SPDY with the first offered protocol version we speak; null when none fits.</summary>
    private static async Task<(SpdyConnection Connection, Stream Raw)?> UpgradeSpdyAsync(HttpContext http, params string[] protocols)
    {
        var offered = http.Request.Headers["X-Stream-Protocol-Version"].SelectMany(v => (v ?? string.Empty).Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)).ToList();
        var chosen = protocols.FirstOrDefault(p => offered.Count == 0 || offered.Contains(p));
        if (chosen is null)
        {
            return null;
        }
        http.Response.Headers.Connection = "Upgrade";
        http.Response.Headers.Upgrade = "SPDY/3.1";
        if (offered.Count > 0)
        {
            http.Response.Headers["X-Stream-Protocol-Version"] = chosen;
        }
        var raw = await http.Features.Get<IHttpUpgradeFeature>()!.UpgradeAsync().ConfigureAwait(false);
        return (new SpdyConnection(raw), raw);
    }

    private async Task ExecSpdyAsync(HttpContext http, string kubelet, string ns, string name, string container, string subresource)
    {
        var q = http.Request.Query;
        static bool Flag(string? v) => v is "true" or "1";
        bool stdin = Flag(q["stdin"]), stdout = Flag(q["stdout"]), stderr = Flag(q["stderr"]), tty = Flag(q["tty"]);
        var upgraded = await UpgradeSpdyAsync(http, "v4.channel.k8s.io").ConfigureAwait(false)
            ?? throw ApiException.BadRequest("exec over SPDY needs protocol v4.channel.k8s.io");
        await using var connection = upgraded.Connection;
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted);
        var reading = connection.RunAsync(cts.Token);
        var streams = new Dictionary<string, SpdyStream>(StringComparer.Ordinal);
        var expected = new List<string> { "error" };
        if (stdin)
        {
            expected.Add("stdin");
        }
        if (stdout)
        {
            expected.Add("stdout");
        }
        if (stderr && !tty)
        {
            expected.Add("stderr");
        }
        using (var wait = CancellationTokenSource.CreateLinkedTokenSource(cts.Token))
        {
            wait.CancelAfter(TimeSpan.FromSeconds(30));
            try
            {
                while (!expected.All(streams.ContainsKey))
                {
                    var s = await connection.Opened.ReadAsync(wait.Token).ConfigureAwait(false);
                    streams[s.Header("streamtype") ?? string.Empty] = s;
                }
            }
            catch (Exception e) when (e is OperationCanceledException or System.Threading.Channels.ChannelClosedException)
            {
                await cts.CancelAsync().ConfigureAwait(false);
                return;
            }
        }
        // With a terminal the client opens a resize stream, maybe after the others.
        var resizeStream = new TaskCompletionSource<SpdyStream>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (streams.TryGetValue("resize", out var early))
        {
            resizeStream.TrySetResult(early);
        }
        _ = Task.Run(async () =>
        {
            await foreach (var s in connection.Opened.ReadAllAsync(cts.Token).ConfigureAwait(false))
            {
                if (streams.TryAdd(s.Header("streamtype") ?? string.Empty, s) && s.Header("streamtype") == "resize")
                {
                    resizeStream.TrySetResult(s);
                }
            }
        }, cts.Token);
        using var agent = await ConnectAgentAsync($"{kubelet}/{subresource}/{ns}/{name}/{container}?{ForwardedQuery(http)}", ["v5.channel.k8s.io"], cts.Token).ConfigureAwait(false);
        if (agent.Socket is null)
        {
            await WriteStatusAsync(streams["error"], agent.Refusal, cts.Token).ConfigureAwait(false);
            await connection.GoAwayAsync(CancellationToken.None).ConfigureAwait(false);
            return;
        }
        var ws = agent.Socket;
        var sendLock = new SemaphoreSlim(1, 1);
        async Task SendAsync(byte[] message)
        {
            await sendLock.WaitAsync(cts.Token).ConfigureAwait(false);
            try
            {
                await ws.SendAsync(message, WebSocketMessageType.Binary, true, cts.Token).ConfigureAwait(false);
            }
            finally
            {
                sendLock.Release();
            }
        }
        var input = stdin ? Task.Run(async () =>
        {
            try
            {
                await foreach (var data in streams["stdin"].Incoming.Reader.ReadAllAsync(cts.Token).ConfigureAwait(false))
                {
                    await SendAsync([0, .. data]).ConfigureAwait(false);
                }
                await SendAsync([255, 0]).ConfigureAwait(false);
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException)
            {
            }
        }, cts.Token) : Task.CompletedTask;
        var resizes = tty ? Task.Run(async () =>
        {
            // The resize stream is a sequence of JSON objects ({"Width":…,"Height":…}) in arbitrary chunks: each whole object becomes one resize message (channel 4).
            try
            {
                var pending = new List<byte>();
                await foreach (var data in (await resizeStream.Task.WaitAsync(cts.Token).ConfigureAwait(false)).Incoming.Reader.ReadAllAsync(cts.Token).ConfigureAwait(false))
                {
                    pending.AddRange(data);
                    int end;
                    while ((end = pending.IndexOf((byte)'}')) >= 0)
                    {
                        var start = pending.IndexOf((byte)'{');
                        if (start >= 0 && start < end)
                        {
                            await SendAsync([4, .. pending.GetRange(start, end - start + 1)]).ConfigureAwait(false);
                        }
                        pending.RemoveRange(0, end + 1);
                    }
                }
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException)
            {
            }
        }, cts.Token) : Task.CompletedTask;
        var buffer = new byte[64 * 1024];
        var message = new MemoryStream();
        try
        {
            while (await ReceiveMessageAsync(ws, buffer, message, cts.Token).ConfigureAwait(false) is { } data)
            {
                if (data.Length == 0)
                {
                    continue;
                }
                var target = data[0] switch
                {
                    1 => streams.GetValueOrDefault("stdout"),
                    2 => streams.GetValueOrDefault("stderr"),
                    3 => streams["error"],
                    _ => null,
                };
                if (target is not null && data.Length > 1)
                {
                    // v4's error stream carries the Status as is; a success is an empty stream.
                    if (data[0] == 3 && JsonNode.Parse(data.AsSpan(1)) is JsonObject status && status["status"]?.GetValue<string>() == "Success")
                    {
                        continue;
                    }
                    await target.WriteAsync(data.AsMemory(1), cts.Token).ConfigureAwait(false);
                }
            }
            await ws.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is WebSocketException or IOException or OperationCanceledException)
        {
        }
        foreach (var s in streams.Values.Distinct())
        {
            try
            {
                await s.CloseAsync(CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException)
            {
            }
        }
        await connection.GoAwayAsync(CancellationToken.None).ConfigureAwait(false);
        await cts.CancelAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(reading, input, resizes).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task PortForwardAsync(HttpContext http, ResourceType rt, string ns, string name)
    {
        var ct = http.RequestAborted;
        var entry = await registry.GetAsync(rt, ns, name, ct).ConfigureAwait(false) ?? throw ApiException.NotFound("pods", name);
        var pod = ObjectCodec.Decode(entry);
        if (pod.Str("status", "phase") != "Running")
        {
            throw ApiException.BadRequest($"pod {name} is not running; current phase is {pod.Str("status", "phase") ?? "Pending"}");
        }
        if (http.WebSockets.IsWebSocketRequest)
        {
            if (!http.WebSockets.WebSocketRequestedProtocols.Contains(PortForwardChannelProtocol))
            {
                // kubectl 1.31+ first offers SPDY tunnelled in a WebSocket; refusing the upgrade makes it use plain SPDY.
                throw ApiException.BadRequest($"port-forward over WebSocket speaks {PortForwardChannelProtocol} here (SPDY tunnelled in a WebSocket is not supported yet; use SPDY/3.1)");
            }
            var ports = ForwardedPorts(http);
            await PortForwardWebSocketAsync(http, await KubeletAddressAsync(pod, name, ct).ConfigureAwait(false), ns, name, ports, ct).ConfigureAwait(false);
            return;
        }
        if (!IsSpdyUpgrade(http))
        {
            throw ApiException.BadRequest("port-forward needs a SPDY/3.1 upgrade");
        }
        var kubelet = await KubeletAddressAsync(pod, name, ct).ConfigureAwait(false);
        var upgraded = await UpgradeSpdyAsync(http, "portforward.k8s.io").ConfigureAwait(false)
            ?? throw ApiException.BadRequest("port-forward needs protocol portforward.k8s.io");
        await using var connection = upgraded.Connection;
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct, stopping);
        var reading = connection.RunAsync(cts.Token);
        var pairs = new Dictionary<string, (SpdyStream? Data, SpdyStream? Error)>(StringComparer.Ordinal);
        var forwards = new List<Task>();
        try
        {
            await foreach (var s in connection.Opened.ReadAllAsync(cts.Token).ConfigureAwait(false))
            {
                var id = s.Header("requestid") ?? s.Id.ToString(System.Globalization.CultureInfo.InvariantCulture);
                var pair = pairs.GetValueOrDefault(id);
                pair = s.Header("streamtype") == "error" ? (pair.Data, s) : (s, pair.Error);
                pairs[id] = pair;
                if (pair is { Data: { } data, Error: { } error })
                {
                    pairs.Remove(id);
                    forwards.Add(ForwardAsync(kubelet, ns, name, data, error, cts.Token));
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        await cts.CancelAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll([reading, .. forwards]).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    private const string PortForwardChannelProtocol = "v4.channel.k8s.io";

    /// <summary>The next whole message from <paramref name="socket"/> (fragments joined in <paramref name="message"/>), or null once it closes.</summary>
    private static async Task<byte[]?> ReceiveMessageAsync(WebSocket socket, byte[] buffer, MemoryStream message, CancellationToken ct)
    {
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer, ct).ConfigureAwait(false);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return null;
            }
            message.Write(buffer, 0, result.Count);
            if (result.EndOfMessage)
            {
                var data = message.ToArray();
                message.SetLength(0);
                return data;
            }
        }
    }

    /// <summary>The <c>ports</c> query (repeated and comma-separated, as upstream reads it), each 1–65535.</summary>
    private static List<int> ForwardedPorts(HttpContext http)
    {
        var values = http.Request.Query["ports"].SelectMany(v => (v ?? string.Empty).Split(',')).ToList();
        if (values.Count == 0)
        {
            throw ApiException.BadRequest("query parameter \"ports\" is required");
        }
        return values.Select(v => int.TryParse(v, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var p) && p is > 0 and < 65536
            ? p : throw ApiException.BadRequest($"unable to parse \"{v}\" as a port: must be between 1 and 65535")).ToList();
    }

    /// <summary>
    /// Port-forward over one WebSocket with the channel protocol, as the kubelet serves it to <c>@kubernetes/client-node</c>
    /// and other WebSocket clients: port i has data channel 2i and error channel 2i+1, each opened by a message holding
    /// the port (two bytes, little-endian); one connection to the pod per port, and the socket closes when they have all ended.
    /// </summary>
    private async Task PortForwardWebSocketAsync(HttpContext http, string kubelet, string ns, string name, List<int> ports, CancellationToken ct)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct, stopping);
        var agents = new List<AgentSocket>();
        try
        {
            foreach (var port in ports)
            {
                agents.Add(await ConnectAgentAsync($"{kubelet}/portForward/{ns}/{name}?port={port}", [], cts.Token).ConfigureAwait(false));
            }
            using var client = await http.WebSockets.AcceptWebSocketAsync(PortForwardChannelProtocol).ConfigureAwait(false);
            var sendLock = new SemaphoreSlim(1, 1);
            async Task SendAsync(int channel, ReadOnlyMemory<byte> data)
            {
                var frame = new byte[data.Length + 1];
                frame[0] = (byte)channel;
                data.CopyTo(frame.AsMemory(1));
                await sendLock.WaitAsync(cts.Token).ConfigureAwait(false);
                try
                {
                    await client.SendAsync(frame, WebSocketMessageType.Binary, true, cts.Token).ConfigureAwait(false);
                }
                finally
                {
                    sendLock.Release();
                }
            }
            for (var i = 0; i < ports.Count; i++)
            {
                byte[] portBytes = [(byte)(ports[i] & 0xff), (byte)(ports[i] >> 8)];
                await SendAsync(2 * i, portBytes).ConfigureAwait(false);
                await SendAsync(2 * i + 1, portBytes).ConfigureAwait(false);
            }
            var downs = agents.Select((agent, i) => Task.Run(async () =>
            {
                if (agent.Socket is not { } ws)
                {
                    await SendAsync(2 * i + 1, Encoding.UTF8.GetBytes($"error forwarding port {ports[i]} to pod {name}: {agent.Refusal}")).ConfigureAwait(false);
                    return;
                }
                var buffer = new byte[64 * 1024];
                while (true)
                {
                    var result = await ws.ReceiveAsync(buffer, cts.Token).ConfigureAwait(false);
                    if (result.MessageType == WebSocketMessageType.Close)
                    {
                        if (result.CloseStatus is { } status && status != WebSocketCloseStatus.NormalClosure)
                        {
                            await SendAsync(2 * i + 1, Encoding.UTF8.GetBytes($"error forwarding port {ports[i]} to pod {name}, uid : {result.CloseStatusDescription}")).ConfigureAwait(false);
                        }
                        return;
                    }
                    await SendAsync(2 * i, buffer.AsMemory(0, result.Count)).ConfigureAwait(false);
                }
            }, cts.Token)).ToList();
            var up = Task.Run(async () =>
            {
                var buffer = new byte[64 * 1024];
                var message = new MemoryStream();
                while (await ReceiveMessageAsync(client, buffer, message, cts.Token).ConfigureAwait(false) is { } data)
                {
                    // Data for port i arrives on channel 2i; its error channel is written by the server only.
                    if (data.Length > 1 && data[0] % 2 == 0 && data[0] / 2 < agents.Count && agents[data[0] / 2].Socket is { State: WebSocketState.Open } target)
                    {
                        await target.SendAsync(data.AsMemory(1), WebSocketMessageType.Binary, true, cts.Token).ConfigureAwait(false);
                    }
                }
                foreach (var ws in agents.Select(a => a.Socket).OfType<ClientWebSocket>().Where(ws => ws.State == WebSocketState.Open))
                {
                    await ws.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, cts.Token).ConfigureAwait(false);
                }
            }, cts.Token);
            try
            {
                await Task.WhenAll(downs).ConfigureAwait(false);
                await client.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None).ConfigureAwait(false);
                // Give the client a moment to answer the close; the connections to the pod are already over.
                await Task.WhenAny(up, Task.Delay(TimeSpan.FromSeconds(5), CancellationToken.None)).ConfigureAwait(false);
            }
            catch (Exception e) when (e is WebSocketException or IOException or OperationCanceledException or ObjectDisposedException)
            {
                // The client went away: the connections to the pod end with it.
            }
            await cts.CancelAsync().ConfigureAwait(false);
            try
            {
                await Task.WhenAll([up, .. downs]).ConfigureAwait(false);
            }
            catch (Exception e) when (e is WebSocketException or IOException or OperationCanceledException or ObjectDisposedException)
            {
            }
        }
        finally
        {
            foreach (var agent in agents)
            {
                agent.Dispose();
            }
        }
    }

    /// <summary>One forwarded connection: the data stream joined to the agent's WebSocket for that port.</summary>
    private async Task ForwardAsync(string kubelet, string ns, string name, SpdyStream data, SpdyStream error, CancellationToken ct)
    {
        var port = data.Header("port") ?? string.Empty;
        using var agent = await ConnectAgentAsync($"{kubelet}/portForward/{ns}/{name}?port={Uri.EscapeDataString(port)}", [], ct).ConfigureAwait(false);
        if (agent.Socket is null)
        {
            try
            {
                await error.WriteAsync(Encoding.UTF8.GetBytes($"error forwarding port {port} to pod {name}: {agent.Refusal}"), ct).ConfigureAwait(false);
                await error.CloseAsync(ct).ConfigureAwait(false);
                await data.CloseAsync(ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
            {
            }
            return;
        }
        var ws = agent.Socket;
        var up = Task.Run(async () =>
        {
            try
            {
                await foreach (var chunk in data.Incoming.Reader.ReadAllAsync(ct).ConfigureAwait(false))
                {
                    await ws.SendAsync(chunk, WebSocketMessageType.Binary, true, ct).ConfigureAwait(false);
                }
                await ws.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException)
            {
            }
        }, ct);
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                var result = await ws.ReceiveAsync(buffer, ct).ConfigureAwait(false);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    if (result.CloseStatus is { } status && status != WebSocketCloseStatus.NormalClosure)
                    {
                        await error.WriteAsync(Encoding.UTF8.GetBytes($"error forwarding port {port} to pod {name}, uid : {result.CloseStatusDescription}"), ct).ConfigureAwait(false);
                    }
                    break;
                }
                await data.WriteAsync(buffer.AsMemory(0, result.Count), ct).ConfigureAwait(false);
            }
            await data.CloseAsync(ct).ConfigureAwait(false);
            await error.CloseAsync(ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is WebSocketException or IOException or OperationCanceledException or ObjectDisposedException)
        {
        }
        if (await Task.WhenAny(up, Task.Delay(TimeSpan.FromSeconds(10), CancellationToken.None)).ConfigureAwait(false) != up)
        {
            ws.Abort();
        }
    }

    private sealed class AgentSocket(ClientWebSocket? socket, string? error, int status = 0) : IDisposable
    {
        public ClientWebSocket? Socket { get; } = socket;

        public string? Error { get; } = error;

        /// <summary>The agent's HTTP status when it refused the upgrade (0 when it did not answer).</summary>
        public int Status { get; } = status;

        /// <summary>The refusal as one line: status and reason.</summary>
        public string Refusal => Status == 0 ? Error ?? string.Empty : $"{Status} {Error}";

        public void Dispose() => Socket?.Dispose();
    }

    /// <summary>A WebSocket to the agent offering <paramref name="protocols"/>, or the agent's refusal.</summary>
    private async Task<AgentSocket> ConnectAgentAsync(string url, IEnumerable<string> protocols, CancellationToken ct)
    {
        var socket = new ClientWebSocket();
        socket.Options.RemoteCertificateValidationCallback = (_, _, _, _) => true;
        socket.Options.SetRequestHeader("Authorization", "Bearer " + identity.NodeToken);
        socket.Options.CollectHttpResponseDetails = true;
        foreach (var protocol in protocols)
        {
            socket.Options.AddSubProtocol(protocol);
        }
        try
        {
            await socket.ConnectAsync(new Uri(url.Replace("https://", "wss://", StringComparison.Ordinal)), ct).ConfigureAwait(false);
            return new AgentSocket(socket, null);
        }
        catch (WebSocketException e)
        {
            var status = socket.HttpResponseHeaders is null ? 0 : (int)socket.HttpStatusCode;
            socket.Dispose();
            return new AgentSocket(null, e.Message, status);
        }
    }

    private static string ForwardedQuery(HttpContext http) =>
        string.Join('&', http.Request.Query.Where(p => p.Key is "command" or "stdin" or "stdout" or "stderr" or "tty")
            .SelectMany(p => p.Value.Select(v => $"{p.Key}={Uri.EscapeDataString(v ?? string.Empty)}")));

    private static async Task WriteStatusAsync(SpdyStream error, string message, CancellationToken ct)
    {
        var status = new JsonObject { ["metadata"] = new JsonObject(), ["status"] = "Failure", ["message"] = message };
        await error.WriteAsync(Encoding.UTF8.GetBytes(status.ToJsonString(JsonLimits.Writer)), ct).ConfigureAwait(false);
        await error.CloseAsync(ct).ConfigureAwait(false);
    }
}
