using System.Text.Json.Nodes;
using Tugboat.Api.Meta;

namespace Tugboat.ApiServer.Registry;

/// <summary>
/// pods/binding: assigns an unscheduled pod to the node the Binding names and marks it PodScheduled, as the scheduler
/// asks; a pod already assigned or being deleted is a conflict.
/// </summary>
internal sealed class PodBinding(Registry registry)
{
    public async Task BindAsync(ResourceType rt, string ns, string name, JsonObject binding, bool dryRun, CancellationToken ct)
    {
        var target = binding.Str("target", "name");
        if (string.IsNullOrEmpty(target))
        {
            throw ApiException.Invalid("Binding", string.Empty, name, [FieldError.Required("target.name")]);
        }
        await registry.PatchAsync(rt, ns, name, pod =>
        {
            var current = pod.Str("spec", "nodeName");
            if (!string.IsNullOrEmpty(current))
            {
                throw ApiException.Conflict("pods/binding", name, $"pod {name} is already assigned to node \"{current}\"");
            }
            if (pod.Str("metadata", "deletionTimestamp") is not null)
            {
                throw ApiException.Conflict("pods/binding", name, $"pod {name} is being deleted, cannot be assigned to a host");
            }
            pod.Ensure("spec")["nodeName"] = target;
            var conditions = pod.Ensure("status")["conditions"] as JsonArray ?? new JsonArray();
            foreach (var c in conditions.Objects().Where(c => c.Str("type") == "PodScheduled").ToList())
            {
                conditions.Remove(c);
            }
            conditions.Add(new JsonObject { ["type"] = "PodScheduled", ["status"] = "True", ["lastProbeTime"] = null, ["lastTransitionTime"] = registry.Now() });
            pod.Ensure("status")["conditions"] = conditions;
            return pod;
        }, "binding", dryRun, ct).ConfigureAwait(false);
    }
}
