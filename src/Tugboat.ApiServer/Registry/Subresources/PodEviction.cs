using System.Text.Json.Nodes;
using Tugboat.Api.Meta;

namespace Tugboat.ApiServer.Registry;

/// <summary>pods/eviction: a delete that respects PodDisruptionBudgets.</summary>
internal sealed class PodEviction(Registry registry)
{
    /// <summary>
    /// The eviction subresource, as upstream's: a running pod selected by a PodDisruptionBudget is deleted only when
    /// the budget allows a disruption (which is spent, and the pod recorded in disruptedPods until the disruption
    /// controller sees it go); otherwise 429 TooManyRequests with the budget's numbers. Pods that are not running (or
    /// already being deleted) and pods without a budget are deleted at once; more than one budget is an error.
    /// </summary>
    public async Task EvictAsync(ResourceType rt, string ns, string name, JsonObject eviction, bool dryRun, CancellationToken ct)
    {
        if (eviction.Str("metadata", "name") is { Length: > 0 } evicted && evicted != name)
        {
            throw ApiException.BadRequest("name in URL does not match name in Eviction object");
        }
        var options = DeleteOptions.From(eviction["deleteOptions"] as JsonObject, _ => null, dryRun);
        var pod = ObjectCodec.Decode(await registry.GetRequiredAsync(rt, ns, name, ct).ConfigureAwait(false));
        var running = pod.Str("status", "phase") is not ("Succeeded" or "Failed" or "Pending") && pod.Str("metadata", "deletionTimestamp") is null;
        if (running)
        {
            var budgets = registry.Catalog.Get("policy", "PodDisruptionBudget");
            var labels = pod.Labels();
            var matching = (await registry.Store.ListAsync(budgets.CollectionPrefix(ns), cancellationToken: ct).ConfigureAwait(false)).Items
                .Select(e => ObjectCodec.Decode(e))
                .Where(b => b.Obj("spec", "selector") is { } selector && LabelSelector.FromJson(selector).Matches(labels)).ToList();
            if (matching.Count > 1)
            {
                throw new ApiException(500, "InternalError", "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.");
            }
            if (matching is [var budget])
            {
                var ready = pod.Arr("status", "conditions").Objects().Any(c => c.Str("type") == "Ready" && c.Str("status") == "True");
                var (healthy, desired) = (budget.Long("status", "currentHealthy") ?? 0, budget.Long("status", "desiredHealthy") ?? 0);
                // An unready pod may go while the budget is met anyway (upstream's IfHealthyBudget), without spending it.
                if (ready || healthy < desired || desired == 0)
                {
                    await SpendDisruptionAsync(budgets, ns, budget.Str("metadata", "name")!, name, options.DryRun, ct).ConfigureAwait(false);
                }
            }
        }
        await registry.DeleteAsync(rt, ns, name, options, ct).ConfigureAwait(false);
    }

    private async Task SpendDisruptionAsync(ResourceType budgets, string ns, string budgetName, string podName, bool dryRun, CancellationToken ct)
    {
        static ApiException TooManyRequests(string cause) => new(429, "TooManyRequests", "Cannot evict pod as it would violate the pod's disruption budget.")
        {
            Details = new JsonObject { ["causes"] = new JsonArray(new JsonObject { ["reason"] = "DisruptionBudget", ["message"] = cause }) },
        };
        await registry.PatchAsync(budgets, ns, budgetName, budget =>
        {
            if ((budget.Long("status", "observedGeneration") ?? 0) < (budget.Long("metadata", "generation") ?? 0))
            {
                throw TooManyRequests($"The disruption budget {budgetName} is still being processed by the server.");
            }
            var allowed = budget.Long("status", "disruptionsAllowed") ?? 0;
            if (allowed <= 0)
            {
                throw TooManyRequests($"The disruption budget {budgetName} needs {budget.Long("status", "desiredHealthy") ?? 0} healthy pods and has {budget.Long("status", "currentHealthy") ?? 0} currently");
            }
            var status = budget.Ensure("status");
            status["disruptionsAllowed"] = allowed - 1;
            var disrupted = status["disruptedPods"] as JsonObject ?? [];
            disrupted[podName] = registry.Now();
            status["disruptedPods"] = disrupted;
            return budget;
        }, "status", dryRun, ct).ConfigureAwait(false);
    }
}
