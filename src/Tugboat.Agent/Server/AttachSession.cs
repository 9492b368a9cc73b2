using System.Net.WebSockets;
using System.Text;
using System.Threading.Channels;
using Microsoft.AspNetCore.Http;
using Tugboat.Agent.Kubelet;
using Tugboat.Agent.Runtime;

namespace Tugboat.Agent.Server;

/// <summary>
/// <c>kubectl attach</c> (and <c>kubectl run -i</c>) over WebSocket with the same channel protocols as exec: the
/// container's output from now on goes to channels 1 and 2, channel 0 feeds its standard input (when the container
/// was created with <c>stdin: true</c>). The session ends when the container exits or the client leaves.
/// </summary>
internal static class AttachSession
{
    public static async Task HandleAsync(NodeAgent agent, HttpContext http, string ns, string pod, string container)
    {
        var q = http.Request.Query;
        static bool Flag(string? v) => v is "true" or "1";
        var wantStdin = Flag(q["stdin"]);
        var protocol = http.WebSockets.WebSocketRequestedProtocols.FirstOrDefault(p => ChannelProtocol.Protocols.Contains(p));
        if (!http.WebSockets.IsWebSocketRequest || protocol is null)
        {
            http.Response.StatusCode = 400;
            await http.Response.WriteAsync($"attach needs a WebSocket upgrade with one of the subprotocols {string.Join(", ", ChannelProtocol.Protocols)}").ConfigureAwait(false);
            return;
        }
        if (agent.RunningContainer(ns, pod, container) is { } streamed && agent.Runtime is IStreamingRuntime streaming)
        {
            var tty = Flag(q["tty"]);
            await RuntimeStreamBridge.HandleAsync(http, protocol, wantStdin, Flag(q["stdout"]), Flag(q["stderr"]), tty, ct => streaming.AttachUrlAsync(streamed, tty, wantStdin, Flag(q["stdout"]), Flag(q["stderr"]), ct)).ConfigureAwait(false);
            return;
        }
        if (agent.RunningContainer(ns, pod, container) is not { } id || agent.Runtime is not IAttachRuntime attach)
        {
            http.Response.StatusCode = 404;
            await http.Response.WriteAsync($"container not found (\"{container}\")").ConfigureAwait(false);
            return;
        }
        using var socket = await http.WebSockets.AcceptWebSocketAsync(protocol).ConfigureAwait(false);
        var v5 = protocol.StartsWith("v5", StringComparison.Ordinal);
        var outgoing = Channel.CreateUnbounded<byte[]>();
        using var subscription = attach.Subscribe(id, (stream, data) =>
        {
            var frame = new byte[data.Length + 1];
            frame[0] = stream == "stderr" ? ChannelProtocol.Stderr : ChannelProtocol.Stdout;
            data.CopyTo(frame.AsMemory(1));
            outgoing.Writer.TryWrite(frame);
        });
        using var done = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted);
        var sender = Task.Run(async () =>
        {
            try
            {
                await foreach (var frame in outgoing.Reader.ReadAllAsync(done.Token).ConfigureAwait(false))
                {
                    await socket.SendAsync(frame, WebSocketMessageType.Binary, true, done.Token).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException)
            {
            }
        });
        var input = wantStdin ? attach.OpenStdin(id) : null;
        // The client being done sending ends a stdinOnce container's input; others stay open for the next attach.
        var receiver = ChannelProtocol.ReceiveInputAsync(socket, input, v5, async () =>
        {
            await input!.DisposeAsync().ConfigureAwait(false);
            attach.CloseStdin(id);
        }, done.Token, (columns, rows) => attach.ResizeTerminal(id, columns, rows));
        var exited = agent.Runtime.WaitAsync(id, done.Token);
        await Task.WhenAny(receiver, exited).ConfigureAwait(false);
        subscription.Dispose();
        outgoing.Writer.TryComplete();
        await sender.ConfigureAwait(false);
        if (exited.IsCompletedSuccessfully && socket.State == WebSocketState.Open)
        {
            try
            {
                await socket.SendAsync((byte[])[ChannelProtocol.Error, .. Encoding.UTF8.GetBytes("""{"metadata":{},"status":"Success"}""")], WebSocketMessageType.Binary, true, CancellationToken.None).ConfigureAwait(false);
                await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is WebSocketException or IOException)
            {
            }
        }
        if (await Task.WhenAny(receiver, Task.Delay(TimeSpan.FromSeconds(5))).ConfigureAwait(false) != receiver)
        {
            await done.CancelAsync().ConfigureAwait(false);
        }
        try
        {
            await receiver.ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException)
        {
        }
        if (input is not null)
        {
            await input.DisposeAsync().ConfigureAwait(false);
        }
        if (wantStdin)
        {
            // stdinOnce: the first attached client's end of input is the container's.
            attach.CloseStdin(id);
        }
    }
}
