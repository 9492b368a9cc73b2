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
/// How the API server reaches node agents: their address from the Node object, the pod and container a request means,
/// HTTPS requests and WebSockets authenticated by the node token, and the relays that join two WebSockets.
/// </summary>
internal sealed class KubeletClient(Registry.Registry registry, ServerIdentity identity, CancellationToken stopping)
{
    /// <summary>The token the API server presents to node agents.</summary>
    public string NodeToken => identity.NodeToken;

    /// <summary>Ends streams when the server shuts down.</summary>
    public CancellationToken Stopping => stopping;

    /// <summary>
    /// The API server calls agents as upstream's does by default: over TLS without verifying the agent's self-signed
    /// certificate (upstream's --kubelet-certificate-authority is unset by default), authenticated by the node token.
    /// </summary>
    public static readonly HttpClient Http = new(new SocketsHttpHandler
    {
        UseProxy = false,
        SslOptions = { RemoteCertificateValidationCallback = (_, _, _, _) => true },
        PooledConnectionIdleTimeout = TimeSpan.FromMinutes(1),
    })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };

    /// <summary>The agent's /stats/resource answer, or null when the node's agent cannot be reached within two seconds.</summary>
    public async Task<JsonObject?> NodeStatsAsync(JsonObject node, CancellationToken ct)
    {
        try
        {
            var kubelet = NodeAddress(node);
            using var request = new HttpRequestMessage(HttpMethod.Get, kubelet + "/stats/resource");
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", identity.NodeToken);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(2));
            using var response = await Http.SendAsync(request, timeout.Token).ConfigureAwait(false);
            return response.IsSuccessStatusCode ? JsonNode.Parse(await response.Content.ReadAsStringAsync(timeout.Token).ConfigureAwait(false)) as JsonObject : null;
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException or ApiException or System.Text.Json.JsonException && !ct.IsCancellationRequested)
        {
            return null;
        }
    }

    /// <summary>
    /// The pod and the container a log, exec or attach request means: the one named, or the pod's only container, with
    /// upstream's errors when there is no such container or the choice is ambiguous.
    /// </summary>
    public async Task<(JsonObject Pod, string Container)> PodContainerAsync(HttpContext http, ResourceType rt, string ns, string name)
    {
        var entry = await registry.GetAsync(rt, ns, name, http.RequestAborted).ConfigureAwait(false) ?? throw ApiException.NotFound("pods", name);
        var pod = ObjectCodec.Decode(entry);
        var containers = pod.Arr("spec", "containers")?.Select(c => c?["name"]?.GetValue<string>()).OfType<string>().ToList() ?? [];
        var initContainers = pod.Arr("spec", "initContainers")?.Select(c => c?["name"]?.GetValue<string>()).OfType<string>().ToList() ?? [];
        var container = http.Request.Query["container"].ToString();
        if (container.Length == 0)
        {
            if (containers.Count != 1)
            {
                var message = $"a container name must be specified for pod {name}, choose one of: [{string.Join(' ', containers)}]";
                if (initContainers.Count > 0)
                {
                    message += $" or one of the init containers: [{string.Join(' ', initContainers)}]";
                }
                throw ApiException.BadRequest(message);
            }
            container = containers[0];
        }
        if (!containers.Contains(container) && !initContainers.Contains(container))
        {
            throw ApiException.BadRequest($"container {container} is not valid for pod {name}");
        }
        return (pod, container);
    }

    /// <summary>https://ADDRESS:PORT of the agent on the pod's node.</summary>
    public async Task<string> KubeletAddressAsync(JsonObject pod, string name, CancellationToken ct)
    {
        var nodeName = pod.Str("spec", "nodeName");
        if (string.IsNullOrEmpty(nodeName))
        {
            throw ApiException.BadRequest($"pod {name} does not have a host assigned");
        }
        var nodeEntry = await registry.GetAsync(registry.Catalog.Get(string.Empty, "Node"), null, nodeName, ct).ConfigureAwait(false)
            ?? throw ApiException.NotFound("nodes", nodeName);
        return NodeAddress(ObjectCodec.Decode(nodeEntry));
    }

    internal static string NodeAddress(JsonObject node)
    {
        var nodeName = node.Str("metadata", "name");
        var address = node.Arr("status", "addresses")?.OfType<JsonObject>().FirstOrDefault(a => a["type"]?.GetValue<string>() == "InternalIP")?["address"]?.GetValue<string>()
            ?? throw new ApiException(500, "InternalError", $"node {nodeName} has no InternalIP address");
        var port = node["status"]?["daemonEndpoints"]?["kubeletEndpoint"]?["Port"]?.GetValue<int>() ?? 10250;
        return address.Contains(':', StringComparison.Ordinal) ? $"https://[{address}]:{port}" : $"https://{address}:{port}";
    }

    /// <summary>A WebSocket to the agent offering <paramref name="protocols"/>, or the agent's refusal.</summary>
    public async Task<AgentSocket> ConnectAgentAsync(string url, IEnumerable<string> protocols, CancellationToken ct)
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

    internal static string ForwardedQuery(HttpContext http) =>
        string.Join('&', http.Request.Query.Where(p => p.Key is "command" or "stdin" or "stdout" or "stderr" or "tty")
            .SelectMany(p => p.Value.Select(v => $"{p.Key}={Uri.EscapeDataString(v ?? string.Empty)}")));

    /// <summary>The next whole message from <paramref name="socket"/> (fragments joined in <paramref name="message"/>), or null once it closes.</summary>
    internal static async Task<byte[]?> ReceiveMessageAsync(WebSocket socket, byte[] buffer, MemoryStream message, CancellationToken ct)
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

    /// <summary>Copies messages from one WebSocket to the other until either closes; then closes the other.</summary>
    internal static async Task RelayAsync(System.Net.WebSockets.WebSocket from, System.Net.WebSockets.WebSocket to, CancellationTokenSource done)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            while (!done.IsCancellationRequested)
            {
                var result = await from.ReceiveAsync(buffer, done.Token).ConfigureAwait(false);
                if (result.MessageType == System.Net.WebSockets.WebSocketMessageType.Close)
                {
                    if (to.State is System.Net.WebSockets.WebSocketState.Open or System.Net.WebSockets.WebSocketState.CloseReceived)
                    {
                        await to.CloseOutputAsync(result.CloseStatus ?? System.Net.WebSockets.WebSocketCloseStatus.NormalClosure, result.CloseStatusDescription, CancellationToken.None).ConfigureAwait(false);
                    }
                    return;
                }
                await to.SendAsync(buffer.AsMemory(0, result.Count), result.MessageType, result.EndOfMessage, done.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or System.Net.WebSockets.WebSocketException or IOException)
        {
            if (to.State is System.Net.WebSockets.WebSocketState.Open or System.Net.WebSockets.WebSocketState.CloseReceived)
            {
                try
                {
                    await to.CloseOutputAsync(System.Net.WebSockets.WebSocketCloseStatus.NormalClosure, null, CancellationToken.None).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is System.Net.WebSockets.WebSocketException or IOException or OperationCanceledException)
                {
                }
            }
        }
    }
}
