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
        var entry = await registry.GetAsync(rt, ns, name, ct).ConfigureAwait(false) ?? throw ApiException.NotFound("pods", name);
        var pod = ObjectCodec.Decode(entry);
        var query = http.Request.Query;
        var containers = pod.Arr("spec", "containers")?.Select(c => c?["name"]?.GetValue<string>()).OfType<string>().ToList() ?? [];
        var initContainers = pod.Arr("spec", "initContainers")?.Select(c => c?["name"]?.GetValue<string>()).OfType<string>().ToList() ?? [];
        var container = query["container"].ToString();
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
        var node = ObjectCodec.Decode(nodeEntry);
        var address = node.Arr("status", "addresses")?.OfType<JsonObject>().FirstOrDefault(a => a["type"]?.GetValue<string>() == "InternalIP")?["address"]?.GetValue<string>()
            ?? throw new ApiException(500, "InternalError", $"node {nodeName} has no InternalIP address");
        var port = node["status"]?["daemonEndpoints"]?["kubeletEndpoint"]?["Port"]?.GetValue<int>() ?? 10250;
        return address.Contains(':', StringComparison.Ordinal) ? $"https://[{address}]:{port}" : $"https://{address}:{port}";
    }
}
