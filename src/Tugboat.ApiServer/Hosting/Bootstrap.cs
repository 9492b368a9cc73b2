using System.Text.Json.Nodes;
using Tugboat.ApiServer.Registry;

namespace Tugboat.ApiServer.Hosting;

/// <summary>What every cluster has from its first start: the system namespaces and the <c>kubernetes</c> Service.</summary>
internal static class Bootstrap
{
    public static readonly string[] SystemNamespaces = ["default", "kube-system", "kube-public", "kube-node-lease"];

    public static async Task RunAsync(Registry.Registry registry, string endpointIp, int port, string serviceIp, CancellationToken ct)
    {
        var nsType = registry.Catalog.Get(string.Empty, "Namespace");
        foreach (var ns in SystemNamespaces)
        {
            if (await registry.GetAsync(nsType, null, ns, ct).ConfigureAwait(false) is null)
            {
                await CreateIgnoringExistsAsync(registry, nsType, null, new JsonObject
                {
                    ["apiVersion"] = "v1",
                    ["kind"] = "Namespace",
                    ["metadata"] = new JsonObject { ["name"] = ns },
                }, ct).ConfigureAwait(false);
            }
        }
        var svc = registry.Catalog.Get(string.Empty, "Service");
        if (await registry.GetAsync(svc, "default", "kubernetes", ct).ConfigureAwait(false) is null)
        {
            await CreateIgnoringExistsAsync(registry, svc, "default", new JsonObject
            {
                ["apiVersion"] = "v1",
                ["kind"] = "Service",
                ["metadata"] = new JsonObject
                {
                    ["name"] = "kubernetes",
                    ["labels"] = new JsonObject { ["component"] = "apiserver", ["provider"] = "kubernetes" },
                },
                ["spec"] = new JsonObject
                {
                    ["clusterIP"] = serviceIp,
                    ["ports"] = new JsonArray(new JsonObject { ["name"] = "https", ["port"] = 443, ["protocol"] = "TCP", ["targetPort"] = port }),
                },
            }, ct).ConfigureAwait(false);
        }
        var ep = registry.Catalog.Get(string.Empty, "Endpoints");
        var endpoints = new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Endpoints",
            ["metadata"] = new JsonObject
            {
                ["name"] = "kubernetes",
                ["namespace"] = "default",
                ["labels"] = new JsonObject { ["endpointslice.kubernetes.io/skip-mirror"] = "true" },
            },
            ["subsets"] = new JsonArray(new JsonObject
            {
                ["addresses"] = new JsonArray(new JsonObject { ["ip"] = endpointIp }),
                ["ports"] = new JsonArray(new JsonObject { ["name"] = "https", ["port"] = port, ["protocol"] = "TCP" }),
            }),
        };
        // The API server's own endpoint follows its address and port across restarts.
        await registry.UpdateAsync(ep, "default", "kubernetes", endpoints, string.Empty, dryRun: false, ct).ConfigureAwait(false);
    }

    private static async Task CreateIgnoringExistsAsync(Registry.Registry registry, ResourceType rt, string? ns, JsonObject obj, CancellationToken ct)
    {
        try
        {
            await registry.CreateAsync(rt, ns, obj, dryRun: false, ct).ConfigureAwait(false);
        }
        catch (ApiException e) when (e.Reason == "AlreadyExists")
        {
        }
    }
}
