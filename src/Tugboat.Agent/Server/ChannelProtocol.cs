using System.Net.WebSockets;

namespace Tugboat.Agent.Server;

/// <summary>
/// The Kubernetes channel protocols over WebSocket (<c>v5.channel.k8s.io</c>, <c>v4.channel.k8s.io</c>) that exec and
/// attach speak: each binary message starts with its channel (0 stdin, 1 stdout, 2 stderr, 3 the final Status,
/// 4 terminal resize; v5 adds 255 to close a stream).
/// </summary>
internal static class ChannelProtocol
{
    public static readonly string[] Protocols = ["v5.channel.k8s.io", "v4.channel.k8s.io"];

    public const byte Stdin = 0;
    public const byte Stdout = 1;
    public const byte Stderr = 2;
    public const byte Error = 3;
    public const byte Resize = 4;
    public const byte Close = 255;

    /// <summary>
    /// Client to container until the client closes or goes away: stdin data is written to <paramref name="input"/>; a
    /// v5 close of stdin calls <paramref name="closeInput"/> once and stops the writing; resizes (<c>{"Width":…,"Height":…}</c>)
    /// go to <paramref name="resize"/> (columns, rows), and are dropped without one. Nothing is written when
    /// <paramref name="input"/> is null.
    /// </summary>
    public static async Task ReceiveInputAsync(WebSocket socket, Stream? input, bool v5, Func<Task> closeInput, CancellationToken ct, Action<int, int>? resize = null)
    {
        var buffer = new byte[32 * 1024];
        var message = new MemoryStream();
        try
        {
            while (socket.State is WebSocketState.Open or WebSocketState.CloseSent)
            {
                var result = await socket.ReceiveAsync(buffer, ct).ConfigureAwait(false);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return;
                }
                message.Write(buffer, 0, result.Count);
                if (!result.EndOfMessage)
                {
                    continue;
                }
                var data = message.ToArray();
                message.SetLength(0);
                if (data.Length >= 2 && data[0] == Resize && resize is not null)
                {
                    try
                    {
                        using var size = System.Text.Json.JsonDocument.Parse(data.AsMemory(1));
                        if (size.RootElement.TryGetProperty("Width", out var w) && size.RootElement.TryGetProperty("Height", out var h)
                            && w.TryGetInt32(out var columns) && h.TryGetInt32(out var rows))
                        {
                            resize(columns, rows);
                        }
                    }
                    catch (System.Text.Json.JsonException)
                    {
                        // A malformed resize changes nothing.
                    }
                    continue;
                }
                if (data.Length < 2 || input is null)
                {
                    continue;
                }
                if (data[0] == Stdin)
                {
                    await input.WriteAsync(data.AsMemory(1), ct).ConfigureAwait(false);
                    await input.FlushAsync(ct).ConfigureAwait(false);
                }
                else if (data[0] == Close && v5 && data[1] == Stdin)
                {
                    input = null;
                    await closeInput().ConfigureAwait(false);
                }
            }
        }
        catch (Exception e) when (e is IOException or WebSocketException)
        {
            // The command closed its input, or the client went away.
        }
    }
}
