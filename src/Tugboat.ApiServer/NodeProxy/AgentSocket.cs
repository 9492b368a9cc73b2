using System.Net.WebSockets;

namespace Tugboat.ApiServer.NodeProxy;

/// <summary>A WebSocket opened to a node agent, or the agent's refusal.</summary>
internal sealed class AgentSocket(ClientWebSocket? socket, string? error, int status = 0) : IDisposable
{
    public ClientWebSocket? Socket { get; } = socket;

    public string? Error { get; } = error;

    /// <summary>The agent's HTTP status when it refused the upgrade (0 when it did not answer).</summary>
    public int Status { get; } = status;

    /// <summary>The refusal as one line: status and reason.</summary>
    public string Refusal => Status == 0 ? Error ?? string.Empty : $"{Status} {Error}";

    public void Dispose() => Socket?.Dispose();
}
