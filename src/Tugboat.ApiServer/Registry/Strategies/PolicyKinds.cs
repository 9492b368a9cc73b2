using System.Globalization;
using System.Text.Json.Nodes;

namespace Tugboat.ApiServer.Registry.Strategies;

/// <summary>Disruption budgets, autoscalers, network and scheduling policy: policy/v1, autoscaling/v2, networking.k8s.io/v1, scheduling.k8s.io/v1.</summary>
internal static class PolicyKinds
{
    public static IEnumerable<ResourceType> All()
    {
        var hpa = new ResourceType { Group = "autoscaling", Version = "v2", Kind = "HorizontalPodAutoscaler", Plural = "horizontalpodautoscalers", Namespaced = true, ShortNames = ["hpa"], Categories = ["all"], HasStatus = true, Strategy = Autoscalers() };
        return
        [
            new() { Group = "policy", Version = "v1", Kind = "PodDisruptionBudget", Plural = "poddisruptionbudgets", Namespaced = true, ShortNames = ["pdb"], HasStatus = true, Strategy = DisruptionBudgets() },
            hpa,
            // kubectl autoscale and older clients use v1, served over the same objects.
            new() { Group = "autoscaling", Version = "v1", Kind = "HorizontalPodAutoscaler", Plural = "horizontalpodautoscalers", Namespaced = true, ShortNames = ["hpa"], Categories = ["all"], HasStatus = true, Strategy = hpa.Strategy, StoredAs = hpa, Converter = new HorizontalPodAutoscalerV1Converter() },
            new() { Group = "networking.k8s.io", Version = "v1", Kind = "NetworkPolicy", Plural = "networkpolicies", Namespaced = true, ShortNames = ["netpol"], Strategy = NetworkPolicies() },
            new() { Group = "networking.k8s.io", Version = "v1", Kind = "IngressClass", Plural = "ingressclasses", Namespaced = false, Strategy = IngressClasses() },
            new() { Group = "scheduling.k8s.io", Version = "v1", Kind = "PriorityClass", Plural = "priorityclasses", Namespaced = false, ShortNames = ["pc"], Strategy = PriorityClasses() },
        ];
    }

    private static TableStrategy DisruptionBudgets() => new(
    [
        Column.Name_(),
        Column.Text("Min Available", "The minimum number of pods that must be available.", o => o["spec"]?["minAvailable"]?.ToString() ?? "N/A"),
        Column.Text("Max Unavailable", "The maximum number of pods that may be unavailable.", o => o["spec"]?["maxUnavailable"]?.ToString() ?? "N/A"),
        Column.Int("Allowed Disruptions", "Calculated number of pods that may be disrupted at this time.", o => Cells.Int(o, "status", "disruptionsAllowed")),
        Column.Age(),
    ])
    {
        Generation = true,
        InitialStatus = () => new JsonObject { ["disruptionsAllowed"] = 0, ["currentHealthy"] = 0, ["desiredHealthy"] = 0, ["expectedPods"] = 0 },
        Validation = (o, errors) =>
        {
            if (o.At("spec", "minAvailable") is not null && o.At("spec", "maxUnavailable") is not null)
            {
                errors.Add(FieldError.Invalid("spec", null, "minAvailable and maxUnavailable cannot be both set"));
            }
        },
    };

    private static TableStrategy Autoscalers() => new(
    [
        Column.Name_(),
        Column.Text("Reference", "The reference to the scaled resource.", o => $"{o.Str("spec", "scaleTargetRef", "kind")}/{o.Str("spec", "scaleTargetRef", "name")}"),
        Column.Text("Targets", "The current and target values of each metric.", Targets),
        Column.Text("MinPods", "The lower limit for the number of replicas.", o => (o.Long("spec", "minReplicas") ?? 1).ToString(CultureInfo.InvariantCulture)),
        Column.Int("MaxPods", "The upper limit for the number of replicas.", o => Cells.Int(o, "spec", "maxReplicas")),
        Column.Int("Replicas", "Current number of replicas of pods managed by this autoscaler.", o => Cells.Int(o, "status", "currentReplicas")),
        Column.Age(),
    ])
    {
        Generation = true,
        InitialStatus = () => new JsonObject { ["currentReplicas"] = 0, ["desiredReplicas"] = 0 },
        Defaults = o =>
        {
            var spec = o.Ensure("spec");
            spec.Default("minReplicas", 1);
            if (spec["metrics"] is null)
            {
                spec["metrics"] = new JsonArray(new JsonObject
                {
                    ["type"] = "Resource",
                    ["resource"] = new JsonObject { ["name"] = "cpu", ["target"] = new JsonObject { ["type"] = "Utilization", ["averageUtilization"] = 80 } },
                });
            }
        },
        Validation = (o, errors) =>
        {
            TableStrategy.Require(o, errors, "spec.scaleTargetRef.kind", "spec.scaleTargetRef.name", "spec.maxReplicas");
            if (o.Long("spec", "minReplicas") is { } min && o.Long("spec", "maxReplicas") is { } max && max < min)
            {
                errors.Add(FieldError.Invalid("spec.maxReplicas", max, "must be greater than or equal to `minReplicas`"));
            }
        },
    };

    private static string Targets(JsonObject hpa)
    {
        var current = hpa.Arr("status", "currentMetrics").Objects().ToList();
        var parts = hpa.Arr("spec", "metrics").Objects().Select((m, i) =>
        {
            if (m.Str("type") != "Resource")
            {
                return "<unknown>";
            }
            var name = m.Str("resource", "name");
            var target = m.Long("resource", "target", "averageUtilization") is { } u ? u + "%" : m["resource"]?["target"]?["averageValue"]?.ToString() ?? "<unknown>";
            var now = current.ElementAtOrDefault(i)?.Long("resource", "current", "averageUtilization") is { } c ? c + "%" : "<unknown>";
            return $"{name}: {now}/{target}";
        }).ToList();
        return parts.Count == 0 ? Cells.None : string.Join(", ", parts);
    }

    private static TableStrategy NetworkPolicies() => new(
    [
        Column.Name_(),
        Column.Text("Pod-Selector", "The pods the policy applies to.", o => Cells.Selector(o.At("spec", "podSelector")) is var s && s == Cells.None ? Cells.None : s),
        Column.Age(),
    ])
    {
        Generation = true,
        Defaults = o =>
        {
            var spec = o.Ensure("spec");
            spec.Default("podSelector", new JsonObject());
            if (spec["policyTypes"] is null)
            {
                var types = new JsonArray("Ingress");
                if (spec["egress"] is not null)
                {
                    types.Add("Egress");
                }
                spec["policyTypes"] = types;
            }
        },
    };

    private static TableStrategy IngressClasses() => new(
    [
        Column.Name_(),
        Column.Text("Controller", "The controller that implements this class.", o => o.Str("spec", "controller") ?? string.Empty),
        Column.Text("Parameters", "Parameters of the class.", o => o.Obj("spec", "parameters") is { } p ? $"{p.Str("kind")}/{p.Str("name")}" : Cells.None),
        Column.Age(),
    ])
    {
        Generation = true,
        Immutable = ["spec.controller"],
    };

    private static TableStrategy PriorityClasses() => new(
    [
        Column.Name_(),
        Column.Int("Value", "The priority of pods of this class.", o => o.Long("value") ?? 0),
        Column.Text("Global-Default", "Whether this class is the default for pods without a priority class.", o => (o.Bool("globalDefault") ?? false) ? "true" : "false"),
        Column.Age(),
        Column.Text("PreemptionPolicy", "Whether pods of this class preempt others.", o => o.Str("preemptionPolicy") ?? string.Empty),
    ])
    {
        Defaults = o => o.Default("preemptionPolicy", "PreemptLowerPriority"),
        Validation = (o, errors) =>
        {
            TableStrategy.Require(o, errors, "value");
            if (o.Long("value") is > 1_000_000_000 && !(o.Str("metadata", "name") ?? string.Empty).StartsWith("system-", StringComparison.Ordinal))
            {
                errors.Add(FieldError.Forbidden("value", "maximum allowed value of a user defined priority is 1000000000"));
            }
        },
        Immutable = ["value", "preemptionPolicy"],
        // Upstream's Priority admission: one global default at most.
        Admission = async (o, old, ctx) =>
        {
            if (o.Bool("globalDefault") != true)
            {
                return;
            }
            var name = o.Str("metadata", "name") ?? string.Empty;
            if (await PodStrategy.DefaultPriorityClassAsync(ctx.Registry).ConfigureAwait(false) is { } existing && existing.Name != name)
            {
                throw ApiException.Forbidden("priorityclasses", name, $"priorityclasses.scheduling.k8s.io \"{name}\" is forbidden: PriorityClass {existing.Name} is already marked as default. Only one default can exist");
            }
        },
    };
}
