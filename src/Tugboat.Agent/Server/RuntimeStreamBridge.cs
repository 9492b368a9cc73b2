using System.Net.WebSockets;
using Microsoft.AspNetCore.Http;
using Tugboat.Agent.Runtime;

namespace Tugboat.Agent.Server;

/// <summary>
/// Exec and attach for runtimes that stream themselves (containerd's CRI streaming server, channel protocol v4 only):
/// the client's WebSocket (v5 or v4, as the API server relays kubectl's) is joined to one opened to the runtime's URL,
/// message for message. v4 cannot end stdin on its own, so a v5 client's stdin close is not passed on (the runtime sees
/// the end of input when the session closes).
/// </summary>
internal static class RuntimeStreamBridge
{
    public const string RuntimeProtocol = "v4.channel.k8s.io";

    public static async Task HandleAsync(HttpContext http, string protocol, Func<CancellationToken, Task<Uri>> url)
    {
        Uri target;
        try
        {
            target = await url(http.RequestAborted).ConfigureAwait(false);
        }
        catch (ContainerStartException e)
        {
            http.Response.StatusCode = 400;
            await http.Response.WriteAsync(e.Message).ConfigureAwait(false);
            return;
        }
        using var runtime = new ClientWebSocket();
        runtime.Options.AddSubProtocol(RuntimeProtocol);
        try
        {
            await runtime.ConnectAsync(new Uri(target.ToString().Replace("http://", "ws://", StringComparison.Ordinal)), http.RequestAborted).ConfigureAwait(false);
        }
        catch (WebSocketException e)
        {
            http.Response.StatusCode = 500;
            await http.Response.WriteAsync($"the runtime's stream could not be opened: {e.Message}").ConfigureAwait(false);
            return;
        }
        using var client = await http.WebSockets.AcceptWebSocketAsync(protocol).ConfigureAwait(false);
        using var done = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted);
        var down = RelayAsync(runtime, client, dropClose: false, done);
        var up = RelayAsync(client, runtime, dropClose: protocol.StartsWith("v5", StringComparison.Ordinal), done);
        var first = await Task.WhenAny(down, up).ConfigureAwait(false);
        var other = first == down ? up : down;
        if (await Task.WhenAny(other, Task.Delay(TimeSpan.FromSeconds(5), CancellationToken.None)).ConfigureAwait(false) != other)
        {
            await done.CancelAsync().ConfigureAwait(false);
        }
        await Task.WhenAll(down, up).ConfigureAwait(false);
    }

    /// <summary>Copies whole messages until <paramref name="from"/> closes, then closes <paramref name="to"/>; v5's close-channel messages are dropped.</summary>
    private static async Task RelayAsync(WebSocket from, WebSocket to, bool dropClose, CancellationTokenSource done)
    {
        var buffer = new byte[64 * 1024];
        var message = new MemoryStream();
        try
        {
            while (!done.IsCancellationRequested)
            {
                var result = await from.ReceiveAsync(buffer, done.Token).ConfigureAwait(false);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    break;
                }
                message.Write(buffer, 0, result.Count);
                if (!result.EndOfMessage)
                {
                    continue;
                }
                var data = message.ToArray();
                message.SetLength(0);
                if (dropClose && data.Length > 0 && data[0] == ChannelProtocol.Close)
                {
                    continue;
                }
                await to.SendAsync(data, WebSocketMessageType.Binary, true, done.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is WebSocketException or IOException or OperationCanceledException)
        {
        }
        try
        {
            if (to.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                await to.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is WebSocketException or IOException or OperationCanceledException)
        {
        }
    }
}
