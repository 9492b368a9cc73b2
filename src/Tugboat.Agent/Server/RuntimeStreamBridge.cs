using System.Net.WebSockets;
using System.Text;
using Microsoft.AspNetCore.Http;
using Tugboat.Agent.Runtime;
using Tugboat.Api.Streaming;

namespace Tugboat.Agent.Server;

/// <summary>
/// Exec and attach for runtimes that stream themselves (containerd's CRI streaming server): the client's WebSocket
/// (v5 or v4 channel protocol, as the API server relays kubectl's) is joined to a SPDY/3.1 session with the runtime
/// (remotecommand v4: error, stdin, stdout, stderr and resize streams), as upstream's API server and kubelet join
/// them. SPDY can end one stream, so a v5 client's end of stdin reaches the command (exec -i with piped input, cp).
/// </summary>
internal static class RuntimeStreamBridge
{
    public const string RuntimeProtocol = "v4.channel.k8s.io";

    public static async Task HandleAsync(HttpContext http, string protocol, bool stdin, bool stdout, bool stderr, bool tty, Func<CancellationToken, Task<Uri>> url)
    {
        Uri target;
        SpdyConnection runtime;
        try
        {
            target = await url(http.RequestAborted).ConfigureAwait(false);
            runtime = await SpdyConnection.ConnectAsync(target, RuntimeProtocol, http.RequestAborted).ConfigureAwait(false);
        }
        catch (ContainerStartException e)
        {
            http.Response.StatusCode = 400;
            await http.Response.WriteAsync(e.Message).ConfigureAwait(false);
            return;
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException)
        {
            http.Response.StatusCode = 500;
            await http.Response.WriteAsync($"the runtime's stream could not be opened: {e.Message}").ConfigureAwait(false);
            return;
        }
        await using (runtime)
        {
            using var done = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted);
            var reading = runtime.RunAsync(done.Token);
            static KeyValuePair<string, string>[] Type(string type) => [new("streamtype", type)];
            var error = await runtime.OpenStreamAsync(Type("error"), done.Token).ConfigureAwait(false);
            var input = stdin ? await runtime.OpenStreamAsync(Type("stdin"), done.Token).ConfigureAwait(false) : null;
            var output = stdout ? await runtime.OpenStreamAsync(Type("stdout"), done.Token).ConfigureAwait(false) : null;
            var errors = stderr && !tty ? await runtime.OpenStreamAsync(Type("stderr"), done.Token).ConfigureAwait(false) : null;
            var resize = tty ? await runtime.OpenStreamAsync(Type("resize"), done.Token).ConfigureAwait(false) : null;
            using var client = await http.WebSockets.AcceptWebSocketAsync(protocol).ConfigureAwait(false);
            var v5 = protocol.StartsWith("v5", StringComparison.Ordinal);
            var send = new SemaphoreSlim(1, 1);
            async Task SendAsync(byte channel, byte[] data)
            {
                await send.WaitAsync(done.Token).ConfigureAwait(false);
                try
                {
                    await client.SendAsync((byte[])[channel, .. data], WebSocketMessageType.Binary, true, done.Token).ConfigureAwait(false);
                }
                finally
                {
                    send.Release();
                }
            }
            async Task PumpAsync(SpdyStream? stream, byte channel)
            {
                if (stream is null)
                {
                    return;
                }
                await foreach (var data in stream.Incoming.Reader.ReadAllAsync(done.Token).ConfigureAwait(false))
                {
                    await SendAsync(channel, data).ConfigureAwait(false);
                }
            }
            var downs = Task.WhenAll(PumpAsync(output, ChannelProtocol.Stdout), PumpAsync(errors, ChannelProtocol.Stderr), PumpAsync(error, ChannelProtocol.Error));
            var up = UpAsync(client, input, resize, v5, done.Token);
            try
            {
                // The session ends when the runtime has closed the command's output and its error stream.
                await downs.ConfigureAwait(false);
                await client.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None).ConfigureAwait(false);
                await Task.WhenAny(up, Task.Delay(TimeSpan.FromSeconds(5), CancellationToken.None)).ConfigureAwait(false);
            }
            catch (Exception e) when (e is WebSocketException or IOException or OperationCanceledException or ObjectDisposedException)
            {
            }
            await runtime.GoAwayAsync(CancellationToken.None).ConfigureAwait(false);
            await done.CancelAsync().ConfigureAwait(false);
            try
            {
                await Task.WhenAll(reading, up).ConfigureAwait(false);
            }
            catch (Exception e) when (e is WebSocketException or IOException or OperationCanceledException or ObjectDisposedException)
            {
            }
        }
    }

    /// <summary>The client's messages: stdin data, v5's end of stdin (passed on as the stream's FIN), terminal sizes.</summary>
    private static async Task UpAsync(WebSocket client, SpdyStream? input, SpdyStream? resize, bool v5, CancellationToken ct)
    {
        var buffer = new byte[64 * 1024];
        var message = new MemoryStream();
        try
        {
            while (true)
            {
                var result = await client.ReceiveAsync(buffer, ct).ConfigureAwait(false);
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
                if (data.Length == 0)
                {
                    continue;
                }
                switch (data[0])
                {
                    case ChannelProtocol.Stdin when input is not null && data.Length > 1:
                        await input.WriteAsync(data.AsMemory(1), ct).ConfigureAwait(false);
                        break;
                    case ChannelProtocol.Resize when resize is not null && data.Length > 1:
                        await resize.WriteAsync(data.AsMemory(1), ct).ConfigureAwait(false);
                        break;
                    case ChannelProtocol.Close when v5 && data.Length > 1 && data[1] == ChannelProtocol.Stdin && input is not null:
                        await input.CloseAsync(ct).ConfigureAwait(false);
                        input = null;
                        break;
                }
            }
        }
        catch (Exception e) when (e is WebSocketException or IOException or OperationCanceledException or ObjectDisposedException)
        {
        }
        if (input is not null)
        {
            try
            {
                await input.CloseAsync(CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException)
            {
            }
        }
    }
}
