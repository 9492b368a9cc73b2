using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Tugboat.Agent.Kubelet;
using Tugboat.Agent.Runtime;
using Tugboat.Api.Serialization;

namespace Tugboat.Agent.Server;

/// <summary>
/// <c>kubectl exec</c> over WebSocket with the Kubernetes channel protocols (<see cref="ChannelProtocol"/>). The command runs in the container's namespaces with its
/// environment; with a terminal requested it gets a pseudo-terminal of its own, sized by the client's resize messages.
/// </summary>
internal static class ExecSession
{
    private const byte Stdout = ChannelProtocol.Stdout;
    private const byte Stderr = ChannelProtocol.Stderr;
    private const byte Error = ChannelProtocol.Error;

    public static async Task HandleAsync(NodeAgent agent, HttpContext http, string ns, string pod, string container)
    {
        var q = http.Request.Query;
        static bool Flag(string? v) => v is "true" or "1";
        var command = q["command"].Where(c => c is not null).Select(c => c!).ToList();
        var stdin = Flag(q["stdin"]);
        var tty = Flag(q["tty"]);
        var protocol = http.WebSockets.WebSocketRequestedProtocols.FirstOrDefault(p => ChannelProtocol.Protocols.Contains(p));
        if (!http.WebSockets.IsWebSocketRequest || protocol is null)
        {
            http.Response.StatusCode = 400;
            await http.Response.WriteAsync($"exec needs a WebSocket upgrade with one of the subprotocols {string.Join(", ", ChannelProtocol.Protocols)}").ConfigureAwait(false);
            return;
        }
        if (command.Count == 0)
        {
            http.Response.StatusCode = 400;
            await http.Response.WriteAsync("you must specify at least 1 command").ConfigureAwait(false);
            return;
        }
        if (agent.RunningContainer(ns, pod, container) is { } streamed && agent.Runtime is IStreamingRuntime streaming)
        {
            var stdout = Flag(q["stdout"]);
            var stderr = Flag(q["stderr"]);
            await RuntimeStreamBridge.HandleAsync(http, protocol, stdin, stdout, stderr, tty, ct => streaming.ExecUrlAsync(streamed, command, tty, stdin, stdout, stderr, ct)).ConfigureAwait(false);
            return;
        }
        if (agent.RunningContainer(ns, pod, container) is not { } id || agent.Runtime is not IExecRuntime exec)
        {
            http.Response.StatusCode = 404;
            await http.Response.WriteAsync($"container not found (\"{container}\")").ConfigureAwait(false);
            return;
        }
        using var socket = await http.WebSockets.AcceptWebSocketAsync(protocol).ConfigureAwait(false);
        var v5 = protocol.StartsWith("v5", StringComparison.Ordinal);
        var sendLock = new SemaphoreSlim(1, 1);
        async Task SendAsync(byte channel, ReadOnlyMemory<byte> data)
        {
            var frame = new byte[data.Length + 1];
            frame[0] = channel;
            data.CopyTo(frame.AsMemory(1));
            await sendLock.WaitAsync().ConfigureAwait(false);
            try
            {
                await socket.SendAsync(frame, WebSocketMessageType.Binary, true, CancellationToken.None).ConfigureAwait(false);
            }
            finally
            {
                sendLock.Release();
            }
        }
        if (tty)
        {
            await RunOnTerminalAsync(exec, id, command, socket, stdin, v5, SendAsync).ConfigureAwait(false);
            return;
        }
        System.Diagnostics.Process process;
        try
        {
            process = exec.Exec(id, command, redirectStdin: true);
        }
        catch (ContainerStartException e)
        {
            await FailAsync(socket, SendAsync, e.Message).ConfigureAwait(false);
            return;
        }
        using (process)
        {
            if (!stdin)
            {
                process.StandardInput.Close();
            }
            var output = Copy(process.StandardOutput.BaseStream, Stdout, SendAsync);
            var errors = Copy(process.StandardError.BaseStream, Stderr, SendAsync);
            using var receiving = new CancellationTokenSource();
            var input = ReceiveAsync(socket, process, stdin, v5, receiving.Token);
            await process.WaitForExitAsync().ConfigureAwait(false);
            await Task.WhenAll(output, errors).ConfigureAwait(false);
            await FinishAsync(socket, SendAsync, Status(process.ExitCode, null), input, receiving).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// kubectl exec -t: the command's terminal output goes out on stdout (a terminal has no separate stderr), stdin
    /// goes to the terminal, resize messages set its size. The command starts once the client's first size has arrived
    /// (kubectl sends it at once; at most a second is waited for a client that sends none), so it starts at the client's size.
    /// Output left once the command has exited is read for up to two seconds (a background process it left may hold
    /// the terminal open).
    /// </summary>
    private static async Task RunOnTerminalAsync(IExecRuntime exec, string id, List<string> command, WebSocket socket, bool stdin, bool v5, Func<byte, ReadOnlyMemory<byte>, Task> send)
    {
        TerminalExec terminal;
        try
        {
            terminal = exec.ExecTerminal(id, command);
        }
        catch (ContainerStartException e)
        {
            await FailAsync(socket, send, e.Message).ConfigureAwait(false);
            return;
        }
        using (terminal)
        {
            var sized = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using var receiving = new CancellationTokenSource();
            var input = Task.Run(async () =>
            {
                try
                {
                    await ChannelProtocol.ReceiveInputAsync(socket, stdin ? terminal.Terminal : null, v5, () => Task.CompletedTask, receiving.Token, (columns, rows) =>
                    {
                        terminal.Resize(columns, rows);
                        sized.TrySetResult();
                    }).ConfigureAwait(false);
                }
                finally
                {
                    sized.TrySetResult();
                    if (terminal.Process is { } started)
                    {
                        Kill(started);
                    }
                }
            });
            await Task.WhenAny(sized.Task, Task.Delay(TimeSpan.FromSeconds(1))).ConfigureAwait(false);
            System.Diagnostics.Process process;
            try
            {
                process = terminal.Start();
            }
            catch (ContainerStartException e)
            {
                await FinishAsync(socket, send, Status(null, $"failed to exec in container: {e.Message}"), input, receiving).ConfigureAwait(false);
                return;
            }
            if (input.IsCompleted)
            {
                // The client left before the command started.
                Kill(process);
            }
            var output = Copy(terminal.Terminal, Stdout, send);
            await process.WaitForExitAsync().ConfigureAwait(false);
            await Task.WhenAny(output, Task.Delay(TimeSpan.FromSeconds(2))).ConfigureAwait(false);
            terminal.Terminal.Dispose();
            await output.ConfigureAwait(false);
            await FinishAsync(socket, send, Status(process.ExitCode, null), input, receiving).ConfigureAwait(false);
        }
    }

    private static async Task FailAsync(WebSocket socket, Func<byte, ReadOnlyMemory<byte>, Task> send, string message)
    {
        await send(Error, Status(null, $"failed to exec in container: {message}")).ConfigureAwait(false);
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>Sends the final Status, closes our side and lets the receive loop take the client's close.</summary>
    private static async Task FinishAsync(WebSocket socket, Func<byte, ReadOnlyMemory<byte>, Task> send, byte[] status, Task input, CancellationTokenSource receiving)
    {
        await send(Error, status).ConfigureAwait(false);
        // Cancelling a pending receive would abort the connection and could drop the last messages before they are on the wire.
        try
        {
            await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is WebSocketException or IOException)
        {
        }
        if (await Task.WhenAny(input, Task.Delay(TimeSpan.FromSeconds(10))).ConfigureAwait(false) != input)
        {
            await receiving.CancelAsync().ConfigureAwait(false);
        }
        try
        {
            await input.ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException or IOException)
        {
        }
    }

    private static void Kill(System.Diagnostics.Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
        }
    }

    /// <summary>Client to process (see <see cref="ChannelProtocol.ReceiveInputAsync"/>); the command does not outlive its session.</summary>
    private static async Task ReceiveAsync(WebSocket socket, System.Diagnostics.Process process, bool stdin, bool v5, CancellationToken ct)
    {
        try
        {
            await ChannelProtocol.ReceiveInputAsync(socket, stdin ? process.StandardInput.BaseStream : null, v5, () =>
            {
                process.StandardInput.Close();
                return Task.CompletedTask;
            }, ct).ConfigureAwait(false);
        }
        finally
        {
            Kill(process);
        }
    }

    private static async Task Copy(Stream from, byte channel, Func<byte, ReadOnlyMemory<byte>, Task> send)
    {
        var buffer = new byte[32 * 1024];
        int n;
        while ((n = await from.ReadAsync(buffer).ConfigureAwait(false)) > 0)
        {
            try
            {
                await send(channel, buffer.AsMemory(0, n)).ConfigureAwait(false);
            }
            catch (Exception e) when (e is WebSocketException or IOException or ObjectDisposedException)
            {
                return;
            }
        }
    }

    /// <summary>The final Status on the error channel, as the kubelet writes it (exit codes as NonZeroExitCode causes).</summary>
    private static byte[] Status(int? exitCode, string? failure)
    {
        JsonObject status;
        if (failure is not null)
        {
            status = new JsonObject { ["metadata"] = new JsonObject(), ["status"] = "Failure", ["message"] = failure };
        }
        else if (exitCode == 0)
        {
            status = new JsonObject { ["metadata"] = new JsonObject(), ["status"] = "Success" };
        }
        else
        {
            status = new JsonObject
            {
                ["metadata"] = new JsonObject(),
                ["status"] = "Failure",
                ["message"] = $"command terminated with non-zero exit code: exit status {exitCode}",
                ["reason"] = "NonZeroExitCode",
                ["details"] = new JsonObject { ["causes"] = new JsonArray(new JsonObject { ["reason"] = "ExitCode", ["message"] = exitCode.ToString() }) },
            };
        }
        return Encoding.UTF8.GetBytes(status.ToJsonString(JsonLimits.Writer));
    }
}
