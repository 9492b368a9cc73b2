using System.Text.Json.Nodes;

namespace Tugboat.ApiServer.Registry.Strategies;

/// <summary>The rest of core/v1 that users create: quotas, limit ranges, pod templates, replication controllers.</summary>
internal static class CoreExtraKinds
{
    public static IEnumerable<ResourceType> All() =>
    [
        new() { Group = "", Version = "v1", Kind = "ResourceQuota", Plural = "resourcequotas", Namespaced = true, ShortNames = ["quota"], HasStatus = true, Strategy = Quotas() },
        new() { Group = "", Version = "v1", Kind = "LimitRange", Plural = "limitranges", Namespaced = true, ShortNames = ["limits"], Strategy = new TableStrategy([Column.Name_(), TableStrategy.CreatedAt()]) },
        new() { Group = "", Version = "v1", Kind = "PodTemplate", Plural = "podtemplates", Namespaced = true, Strategy = Templates() },
        new() { Group = "", Version = "v1", Kind = "ReplicationController", Plural = "replicationcontrollers", Namespaced = true, ShortNames = ["rc"], Categories = ["all"], HasStatus = true, HasScale = true, Strategy = new ReplicationControllerStrategy() },
    ];

    private static TableStrategy Quotas() => new(
    [
        Column.Name_(),
        Column.Age(),
        Column.Text("Request", "Used and hard requests.", o => Usage(o, limits: false)),
        Column.Text("Limit", "Used and hard limits.", o => Usage(o, limits: true)),
    ])
    {
        InitialStatus = () => new JsonObject(),
    };

    private static string Usage(JsonObject quota, bool limits)
    {
        var hard = quota.Obj("spec", "hard") ?? [];
        var used = quota.Obj("status", "used");
        var parts = hard.Where(kv => kv.Key.StartsWith("limits.", StringComparison.Ordinal) == limits)
            .OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => $"{kv.Key}: {used?[kv.Key]?.ToString() ?? "0"}/{kv.Value}");
        return string.Join(", ", parts);
    }

    private static TableStrategy Templates() => new(
    [
        Column.Text("Template", "The name of the template.", o => o.Str("metadata", "name") ?? string.Empty),
        Column.Text("Containers", "Names of each container in the template.", o => Cells.Containers(o.At("template", "spec"))),
        Column.Text("Images", "Images referenced by each container in the template.", o => Cells.Images(o.At("template", "spec"))),
        Column.Text("Pod Labels", "The labels of the template's pods.", o => Cells.MapText(o.Obj("template", "metadata", "labels"))),
    ])
    {
        Defaults = o =>
        {
            if (o.Obj("template", "spec") is { } spec)
            {
                PodSpecs.Default(spec);
            }
        },
        Validation = (o, errors) => PodSpecs.Validate(o.At("template", "spec"), "template.spec", errors),
    };
}
