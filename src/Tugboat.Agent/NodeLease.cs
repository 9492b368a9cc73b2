using System.Text.Json.Nodes;
using Tugboat.Api.Meta;
using Tugboat.Client;

namespace Tugboat.Agent;

/// <summary>A node's heartbeat Lease in kube-node-lease, as a kubelet keeps it (real and simulated nodes alike).</summary>
internal static class NodeLease
{
    /// <summary>Renews (or first creates) the Lease of <paramref name="node"/>, held by the node itself.</summary>
    public static async Task RenewAsync(ApiClient client, string node, int durationSeconds, CancellationToken ct)
    {
        var spec = new JsonObject
        {
            ["holderIdentity"] = node,
            ["leaseDurationSeconds"] = durationSeconds,
            ["renewTime"] = Times.FormatMicro(DateTimeOffset.UtcNow),
        };
        try
        {
            await client.MergePatchIgnoringResultAsync($"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{node}", new JsonObject { ["spec"] = spec.DeepClone() }, ct).ConfigureAwait(false);
        }
        catch (ApiError e) when (e.IsNotFound)
        {
            await client.CreateIgnoringResultAsync("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", new JsonObject
            {
                ["apiVersion"] = "coordination.k8s.io/v1",
                ["kind"] = "Lease",
                ["metadata"] = new JsonObject { ["name"] = node, ["namespace"] = "kube-node-lease" },
                ["spec"] = spec,
            }, ct).ConfigureAwait(false);
        }
    }
}
