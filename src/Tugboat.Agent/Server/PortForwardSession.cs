using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using Microsoft.AspNetCore.Http;
using Tugboat.Agent.Kubelet;

namespace Tugboat.Agent.Server;

/// <summary>
/// One forwarded connection to a pod's port: a WebSocket from the API server carrying the bytes both ways (binary
/// messages), joined to a TCP connection to the pod's address (the node's for host-network pods).
/// </summary>
internal static class PortForwardSession
{
    public static async Task HandleAsync(NodeAgent agent, HttpContext http, string ns, string pod)
    {
        if (!http.WebSockets.IsWebSocketRequest || !int.TryParse(http.Request.Query["port"], out var port) || port is < 1 or > 65535)
        {
            http.Response.StatusCode = 400;
            await http.Response.WriteAsync("port-forward needs a WebSocket upgrade and a port between 1 and 65535").ConfigureAwait(false);
            return;
        }
        if (agent.PodIp(ns, pod) is not { } ip)
        {
            http.Response.StatusCode = 404;
            await http.Response.WriteAsync($"pod {ns}/{pod} is not running on this node").ConfigureAwait(false);
            return;
        }
        using var socket = await http.WebSockets.AcceptWebSocketAsync().ConfigureAwait(false);
        using var tcp = new TcpClient();
        try
        {
            await tcp.ConnectAsync(IPAddress.Parse(ip), port, http.RequestAborted).ConfigureAwait(false);
        }
        catch (SocketException e)
        {
            // The reason travels in the close frame; the API server writes it to the client's error stream.
            var reason = $"failed to connect to {ip}:{port} inside the pod: {e.SocketErrorCode switch { SocketError.ConnectionRefused => "connection refused", _ => e.Message }}";
            await socket.CloseAsync(WebSocketCloseStatus.InternalServerError, reason.Length > 120 ? reason[..120] : reason, CancellationToken.None).ConfigureAwait(false);
            return;
        }
        var network = tcp.GetStream();
        using var done = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted);
        var toPod = Task.Run(async () =>
        {
            var buffer = new byte[32 * 1024];
            try
            {
                while (true)
                {
                    var result = await socket.ReceiveAsync(buffer, done.Token).ConfigureAwait(false);
                    if (result.MessageType == WebSocketMessageType.Close)
                    {
                        tcp.Client.Shutdown(SocketShutdown.Send);
                        return;
                    }
                    await network.WriteAsync(buffer.AsMemory(0, result.Count), done.Token).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (e is WebSocketException or IOException or OperationCanceledException or SocketException)
            {
            }
        });
        var buffer = new byte[32 * 1024];
        try
        {
            int n;
            while ((n = await network.ReadAsync(buffer, done.Token).ConfigureAwait(false)) > 0)
            {
                await socket.SendAsync(buffer.AsMemory(0, n), WebSocketMessageType.Binary, true, done.Token).ConfigureAwait(false);
            }
            await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is WebSocketException or IOException or OperationCanceledException or SocketException)
        {
        }
        if (await Task.WhenAny(toPod, Task.Delay(TimeSpan.FromSeconds(10))).ConfigureAwait(false) != toPod)
        {
            await done.CancelAsync().ConfigureAwait(false);
        }
        await toPod.ConfigureAwait(false);
    }
}
