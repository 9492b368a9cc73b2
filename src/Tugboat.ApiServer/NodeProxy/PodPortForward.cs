using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Tugboat.Api.Serialization;
using Tugboat.Api.Streaming;
using Tugboat.ApiServer.Registry;
using Tugboat.ApiServer.Security;
using static Tugboat.ApiServer.Handlers.Responses;

namespace Tugboat.ApiServer.NodeProxy;

/// <summary>
/// pods/portforward: SPDY/3.1 (every kubectl; a data and an error stream per connection) or one WebSocket with the
/// channel protocol (client libraries), each connection joined to a WebSocket to the agent for that port.
/// </summary>
internal sealed class PodPortForward(Registry.Registry registry, KubeletClient kubelets)
{
    public async Task PortForwardAsync(HttpContext http, ResourceType rt, string ns, string name)
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
            await PortForwardWebSocketAsync(http, await kubelets.KubeletAddressAsync(pod, name, ct).ConfigureAwait(false), ns, name, ports, ct).ConfigureAwait(false);
            return;
        }
        if (!SpdyUpgrade.IsSpdyUpgrade(http))
        {
            throw ApiException.BadRequest("port-forward needs a SPDY/3.1 upgrade");
        }
        var kubelet = await kubelets.KubeletAddressAsync(pod, name, ct).ConfigureAwait(false);
        var upgraded = await SpdyUpgrade.UpgradeSpdyAsync(http, "portforward.k8s.io").ConfigureAwait(false)
            ?? throw ApiException.BadRequest("port-forward needs protocol portforward.k8s.io");
        await using var connection = upgraded.Connection;
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct, kubelets.Stopping);
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
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct, kubelets.Stopping);
        var agents = new List<AgentSocket>();
        try
        {
            foreach (var port in ports)
            {
                agents.Add(await kubelets.ConnectAgentAsync($"{kubelet}/portForward/{ns}/{name}?port={port}", [], cts.Token).ConfigureAwait(false));
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
                while (await KubeletClient.ReceiveMessageAsync(client, buffer, message, cts.Token).ConfigureAwait(false) is { } data)
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
        using var agent = await kubelets.ConnectAgentAsync($"{kubelet}/portForward/{ns}/{name}?port={Uri.EscapeDataString(port)}", [], ct).ConfigureAwait(false);
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
}
