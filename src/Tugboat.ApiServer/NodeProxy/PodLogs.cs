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

/// <summary>pods/log: the container's log from the agent on the pod's node, streamed to the client (followed with follow=true).</summary>
internal sealed class PodLogs(KubeletClient kubelets)
{
    public async Task LogAsync(HttpContext http, ResourceType rt, string ns, string name)
    {
        var ct = http.RequestAborted;
        var (pod, container) = await kubelets.PodContainerAsync(http, rt, ns, name).ConfigureAwait(false);
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
        var kubelet = await kubelets.KubeletAddressAsync(pod, name, ct).ConfigureAwait(false);
        var forwarded = string.Join('&', new[] { "follow", "previous", "tailLines", "sinceSeconds", "sinceTime", "timestamps", "limitBytes" }
            .Where(k => query.ContainsKey(k)).Select(k => $"{k}={Uri.EscapeDataString(query[k].ToString())}"));
        using var request = new HttpRequestMessage(HttpMethod.Get, $"{kubelet}/containerLogs/{ns}/{name}/{container}?{forwarded}");
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", kubelets.NodeToken);
        HttpResponseMessage response;
        try
        {
            response = await KubeletClient.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
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
}
