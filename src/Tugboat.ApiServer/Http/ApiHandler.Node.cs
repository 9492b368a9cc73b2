using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Tugboat.ApiServer.Registry;

namespace Tugboat.ApiServer.Http;

/// <summary>Pod subresources the node agent serves (logs now), reached through the agent's HTTPS endpoint on the pod's node.</summary>
internal sealed partial class ApiHandler
{
    /// <summary>
    /// The API server calls agents as upstream's does by default: over TLS without verifying the agent's self-signed
    /// certificate (upstream's --kubelet-certificate-authority is unset by default), authenticated by the node token.
    /// </summary>
    private static readonly HttpClient Kubelets = new(new SocketsHttpHandler
    {
        UseProxy = false,
        SslOptions = { RemoteCertificateValidationCallback = (_, _, _, _) => true },
        PooledConnectionIdleTimeout = TimeSpan.FromMinutes(1),
    })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };

    private async Task LogAsync(HttpContext http, ResourceType rt, string ns, string name)
    {
        var ct = http.RequestAborted;
        var (pod, container) = await PodContainerAsync(http, rt, ns, name).ConfigureAwait(false);
        var query = http.Request.Query;
        var previous = query["previous"].ToString() is "true" or "1";
        var status = (pod.Arr("status", "containerStatuses") ?? []).Concat(pod.Arr("status", "initContainerStatuses") ?? []).OfType<JsonObject>()
            .FirstOrDefault(s => s["name"]?.GetValue<string>() == container);
        if (previous && status?["lastState"]?["terminated"] is null)
        {
            throw ApiException.BadRequest($"previous terminated container \"{container}\" in pod \"{name}\" not found");
        }
        if (!previous && (status is null || (status["state"]?["waiting"] is JsonObject && status["lastState"]?["terminated"] is null)))
        {
            var reason = status?["state"]?["waiting"]?["reason"]?.GetValue<string>() ?? "ContainerCreating";
            throw ApiException.BadRequest($"container \"{container}\" in pod \"{name}\" is waiting to start: {reason}");
        }
        var kubelet = await KubeletAddressAsync(pod, name, ct).ConfigureAwait(false);
        var forwarded = string.Join('&', new[] { "follow", "previous", "tailLines", "sinceSeconds", "sinceTime", "timestamps", "limitBytes" }
            .Where(k => query.ContainsKey(k)).Select(k => $"{k}={Uri.EscapeDataString(query[k].ToString())}"));
        using var request = new HttpRequestMessage(HttpMethod.Get, $"{kubelet}/containerLogs/{ns}/{name}/{container}?{forwarded}");
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", identity.NodeToken);
        HttpResponseMessage response;
        try
        {
            response = await Kubelets.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            throw new ApiException(500, "InternalError", $"Get \"{request.RequestUri}\": {e.Message}");
        }
        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                var text = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
                throw new ApiException((int)response.StatusCode is 400 or 404 ? 400 : 500, (int)response.StatusCode is 400 or 404 ? "BadRequest" : "InternalError", text.Trim());
            }
            http.Response.StatusCode = 200;
            http.Response.ContentType = "text/plain";
            await using var body = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
            var buffer = new byte[16 * 1024];
            int n;
            try
            {
                while ((n = await body.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
                {
                    await http.Response.Body.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
                    await http.Response.Body.FlushAsync(ct).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (e is OperationCanceledException or IOException)
            {
                // The client went away (kubectl logs -f interrupted) or the agent closed the stream.
            }
        }
    }

    /// <summary>
    /// <c>pods/exec</c>: the client's WebSocket (channel protocols v5/v4) is joined to one opened to the agent on the
    /// pod's node, message for message. SPDY upgrades (kubectl before 1.30 uses them) are refused with a clear error.
    /// </summary>
    private async Task ExecAsync(HttpContext http, ResourceType rt, string ns, string name, string subresource = "exec")
    {
        var ct = http.RequestAborted;
        var (pod, container) = await PodContainerAsync(http, rt, ns, name).ConfigureAwait(false);
        if (pod.Str("status", "phase") is "Succeeded" or "Failed")
        {
            throw ApiException.BadRequest(subresource == "exec"
                ? $"cannot exec into a container in a completed pod; current phase is {pod.Str("status", "phase")}"
                : $"cannot attach a container in a completed pod; current phase is {pod.Str("status", "phase")}");
        }
        var kubelet = await KubeletAddressAsync(pod, name, ct).ConfigureAwait(false);
        if (!http.WebSockets.IsWebSocketRequest)
        {
            if (IsSpdyUpgrade(http))
            {
                await ExecSpdyAsync(http, kubelet, ns, name, container, subresource).ConfigureAwait(false);
                return;
            }
            throw ApiException.BadRequest("exec needs a WebSocket (v5.channel.k8s.io, v4.channel.k8s.io) or SPDY/3.1 upgrade");
        }
        using var agent = await ConnectAgentAsync($"{kubelet}/{subresource}/{ns}/{name}/{container}?{ForwardedQuery(http)}", http.WebSockets.WebSocketRequestedProtocols, ct).ConfigureAwait(false);
        if (agent.Socket is not { } upstream)
        {
            throw new ApiException(agent.Status is 400 or 404 ? 400 : 500, agent.Status is 400 or 404 ? "BadRequest" : "InternalError",
                agent.Status is 404 ? $"unable to upgrade connection: container not found (\"{container}\")" : $"unable to upgrade connection: {agent.Error}");
        }
        using var client = await http.WebSockets.AcceptWebSocketAsync(upstream.SubProtocol).ConfigureAwait(false);
        using var done = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var down = RelayAsync(upstream, client, done);
        var up = RelayAsync(client, upstream, done);
        // Each side's close is passed on and the other side's reply ends the other relay; a side that never replies is cut.
        var first = await Task.WhenAny(down, up).ConfigureAwait(false);
        var other = first == down ? up : down;
        if (await Task.WhenAny(other, Task.Delay(TimeSpan.FromSeconds(10), CancellationToken.None)).ConfigureAwait(false) != other)
        {
            await done.CancelAsync().ConfigureAwait(false);
        }
        await Task.WhenAll(down, up).ConfigureAwait(false);
    }

    /// <summary>Copies messages from one WebSocket to the other until either closes; then closes the other.</summary>
    private static async Task RelayAsync(System.Net.WebSockets.WebSocket from, System.Net.WebSockets.WebSocket to, CancellationTokenSource done)
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

    /// <summary>
    /// metrics.k8s.io: NodeMetrics and PodMetrics from the agents' current samples. Nodes whose agent does not answer
    /// (simulated nodes, dead machines) and pods without a sample yet are left out, as the metrics server does.
    /// </summary>
    private async Task MetricsAsync(HttpContext http, ResourceType rt, string? ns, string? name)
    {
        var ct = http.RequestAborted;
        var selector = Tugboat.Api.Meta.LabelSelector.Parse(http.Request.Query["labelSelector"].ToString());
        var nodeType = registry.Catalog.Get(string.Empty, "Node");
        var nodes = (await registry.ListAsync(nodeType, null, new ListOptions(), ct).ConfigureAwait(false)).Items.Select(ObjectCodec.Decode).ToList();
        List<JsonObject> pods = [];
        if (rt.Kind == "PodMetrics")
        {
            var podType = registry.Catalog.Get(string.Empty, "Pod");
            pods = (await registry.ListAsync(podType, ns, new ListOptions { Labels = selector }, ct).ConfigureAwait(false)).Items.Select(ObjectCodec.Decode)
                .Where(p => name is null || p.Str("metadata", "name") == name).ToList();
            var wanted = pods.Select(p => p.Str("spec", "nodeName")).Where(n => !string.IsNullOrEmpty(n)).ToHashSet(StringComparer.Ordinal);
            nodes = nodes.Where(n => wanted.Contains(n.Str("metadata", "name")!)).ToList();
        }
        else
        {
            nodes = nodes.Where(n => (name is null || n.Str("metadata", "name") == name) && selector.Matches(Labels(n))).ToList();
        }
        var stats = await Task.WhenAll(nodes.Select(async n => (Node: n, Stats: await NodeStatsAsync(n, ct).ConfigureAwait(false)))).ConfigureAwait(false);
        var items = new List<JsonObject>();
        if (rt.Kind == "NodeMetrics")
        {
            items.AddRange(stats.Where(s => s.Stats?["node"] is JsonObject).Select(s => Metrics.NodeMetrics(s.Node, s.Stats!["node"]!.AsObject())));
        }
        else
        {
            var byPod = stats.Where(s => s.Stats is not null).SelectMany(s => (s.Stats!["pods"]?.AsArray() ?? []).OfType<JsonObject>().Select(p => (Pod: p, s.Stats)))
                .ToDictionary(p => $"{p.Pod["namespace"]}/{p.Pod["name"]}", StringComparer.Ordinal);
            foreach (var pod in pods)
            {
                if (byPod.TryGetValue($"{pod.Str("metadata", "namespace")}/{pod.Str("metadata", "name")}", out var found))
                {
                    items.Add(Metrics.PodMetrics(pod, found.Pod, found.Stats!["node"]?["time"], found.Stats!["node"]?["window"]));
                }
            }
        }
        if (name is not null)
        {
            var item = items.FirstOrDefault() ?? throw new ApiException(404, "NotFound", $"{rt.Plural}.{Metrics.Group} \"{name}\" not found");
            await WriteJsonAsync(http, 200, item).ConfigureAwait(false);
            return;
        }
        await WriteJsonAsync(http, 200, new JsonObject
        {
            ["kind"] = rt.Kind + "List",
            ["apiVersion"] = Metrics.Group + "/v1beta1",
            ["metadata"] = new JsonObject(),
            ["items"] = new JsonArray(items.Select(i => (JsonNode?)i).ToArray()),
        }).ConfigureAwait(false);
    }

    private static Dictionary<string, string> Labels(JsonObject obj) =>
        obj["metadata"]?["labels"]?.AsObject().ToDictionary(p => p.Key, p => p.Value?.GetValue<string>() ?? string.Empty, StringComparer.Ordinal) ?? [];

    /// <summary>The agent's /stats/resource answer, or null when the node's agent cannot be reached within two seconds.</summary>
    private async Task<JsonObject?> NodeStatsAsync(JsonObject node, CancellationToken ct)
    {
        try
        {
            var kubelet = NodeAddress(node);
            using var request = new HttpRequestMessage(HttpMethod.Get, kubelet + "/stats/resource");
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", identity.NodeToken);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(2));
            using var response = await Kubelets.SendAsync(request, timeout.Token).ConfigureAwait(false);
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
    private async Task<(JsonObject Pod, string Container)> PodContainerAsync(HttpContext http, ResourceType rt, string ns, string name)
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
    private async Task<string> KubeletAddressAsync(JsonObject pod, string name, CancellationToken ct)
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

    private static string NodeAddress(JsonObject node)
    {
        var nodeName = node.Str("metadata", "name");
        var address = node.Arr("status", "addresses")?.OfType<JsonObject>().FirstOrDefault(a => a["type"]?.GetValue<string>() == "InternalIP")?["address"]?.GetValue<string>()
            ?? throw new ApiException(500, "InternalError", $"node {nodeName} has no InternalIP address");
        var port = node["status"]?["daemonEndpoints"]?["kubeletEndpoint"]?["Port"]?.GetValue<int>() ?? 10250;
        return address.Contains(':', StringComparison.Ordinal) ? $"https://[{address}]:{port}" : $"https://{address}:{port}";
    }
}
