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
/// pods/exec and pods/attach: the client's WebSocket (v5/v4 channel protocols) or SPDY/3.1 streams (kubectl before 1.30)
/// joined to a WebSocket opened to the agent on the pod's node.
/// </summary>
internal sealed class PodExec(KubeletClient kubelets)
{
    /// <summary>
    /// <c>pods/exec</c>: the client's WebSocket (channel protocols v5/v4) is joined to one opened to the agent on the
    /// pod's node, message for message. SPDY upgrades (kubectl before 1.30 uses them) are refused with a clear error.
    /// </summary>
    public async Task ExecAsync(HttpContext http, ResourceType rt, string ns, string name, string subresource = "exec")
    {
        var ct = http.RequestAborted;
        var (pod, container) = await kubelets.PodContainerAsync(http, rt, ns, name).ConfigureAwait(false);
        if (pod.Str("status", "phase") is "Succeeded" or "Failed")
        {
            throw ApiException.BadRequest(subresource == "exec"
                ? $"cannot exec into a container in a completed pod; current phase is {pod.Str("status", "phase")}"
                : $"cannot attach a container in a completed pod; current phase is {pod.Str("status", "phase")}");
        }
        var kubelet = await kubelets.KubeletAddressAsync(pod, name, ct).ConfigureAwait(false);
        if (!http.WebSockets.IsWebSocketRequest)
        {
            if (SpdyUpgrade.IsSpdyUpgrade(http))
            {
                await ExecSpdyAsync(http, kubelet, ns, name, container, subresource).ConfigureAwait(false);
                return;
            }
            throw ApiException.BadRequest("exec needs a WebSocket (v5.channel.k8s.io, v4.channel.k8s.io) or SPDY/3.1 upgrade");
        }
        using var agent = await kubelets.ConnectAgentAsync($"{kubelet}/{subresource}/{ns}/{name}/{container}?{KubeletClient.ForwardedQuery(http)}", http.WebSockets.WebSocketRequestedProtocols, ct).ConfigureAwait(false);
        if (agent.Socket is not { } upstream)
        {
            throw new ApiException(agent.Status is 400 or 404 ? 400 : 500, agent.Status is 400 or 404 ? "BadRequest" : "InternalError",
                agent.Status is 404 ? $"unable to upgrade connection: container not found (\"{container}\")" : $"unable to upgrade connection: {agent.Error}");
        }
        using var client = await http.WebSockets.AcceptWebSocketAsync(upstream.SubProtocol).ConfigureAwait(false);
        using var done = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var down = KubeletClient.RelayAsync(upstream, client, done);
        var up = KubeletClient.RelayAsync(client, upstream, done);
        // Each side's close is passed on and the other side's reply ends the other relay; a side that never replies is cut.
        var first = await Task.WhenAny(down, up).ConfigureAwait(false);
        var other = first == down ? up : down;
        if (await Task.WhenAny(other, Task.Delay(TimeSpan.FromSeconds(10), CancellationToken.None)).ConfigureAwait(false) != other)
        {
            await done.CancelAsync().ConfigureAwait(false);
        }
        await Task.WhenAll(down, up).ConfigureAwait(false);
    }

    private async Task ExecSpdyAsync(HttpContext http, string kubelet, string ns, string name, string container, string subresource)
    {
        var q = http.Request.Query;
        static bool Flag(string? v) => v is "true" or "1";
        bool stdin = Flag(q["stdin"]), stdout = Flag(q["stdout"]), stderr = Flag(q["stderr"]), tty = Flag(q["tty"]);
        var upgraded = await SpdyUpgrade.UpgradeSpdyAsync(http, "v4.channel.k8s.io").ConfigureAwait(false)
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
        using var agent = await kubelets.ConnectAgentAsync($"{kubelet}/{subresource}/{ns}/{name}/{container}?{KubeletClient.ForwardedQuery(http)}", ["v5.channel.k8s.io"], cts.Token).ConfigureAwait(false);
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
            while (await KubeletClient.ReceiveMessageAsync(ws, buffer, message, cts.Token).ConfigureAwait(false) is { } data)
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

    private static async Task WriteStatusAsync(SpdyStream error, string message, CancellationToken ct)
    {
        var status = new JsonObject { ["metadata"] = new JsonObject(), ["status"] = "Failure", ["message"] = message };
        await error.WriteAsync(Encoding.UTF8.GetBytes(status.ToJsonString(JsonLimits.Writer)), ct).ConfigureAwait(false);
        await error.CloseAsync(ct).ConfigureAwait(false);
    }
}
