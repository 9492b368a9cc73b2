using System.Text.Json.Nodes;
using Tugboat.Api.Meta;
using Tugboat.Storage;

namespace Tugboat.ApiServer.Registry;

/// <summary>namespaces/finalize: replaces the namespace's spec.finalizers (the namespace controller empties it when the content is gone).</summary>
internal sealed class NamespaceFinalize(Registry registry)
{
    public async Task<StoreEntry> FinalizeAsync(string name, JsonObject body, bool dryRun, CancellationToken ct)
    {
        var rt = registry.Catalog.Get(string.Empty, "Namespace");
        var finalizers = body.Arr("spec", "finalizers")?.DeepClone() ?? new JsonArray();
        return await registry.PatchAsync(rt, null, name, ns =>
        {
            ns.Ensure("spec")["finalizers"] = finalizers;
            return ns;
        }, "finalize", dryRun, ct).ConfigureAwait(false);
    }
}
