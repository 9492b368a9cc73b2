using System.Text.Json.Nodes;

namespace Tugboat.ApiServer.Registry.Strategies;

internal sealed class NamespaceStrategy : Strategy
{
    public override NameRule NameRule => NameRule.Label;

    public override IReadOnlyList<Column> Columns { get; } =
    [
        Column.Name_(),
        Column.Text("Status", "The status of the namespace", o => o.Str("status", "phase") ?? string.Empty),
        Column.Age(),
    ];

    public override IReadOnlyCollection<string> SelectableFields { get; } = ["status.phase"];

    public override string? GetField(JsonObject obj, string field) => field == "status.phase" ? obj.Str("status", "phase") : null;

    public override void PrepareForCreate(JsonObject obj, RequestContext ctx)
    {
        obj["status"] = new JsonObject { ["phase"] = "Active" };
        // The namespace controller removes this finalizer once the namespace's content is gone.
        obj["spec"] = new JsonObject { ["finalizers"] = new JsonArray("kubernetes") };
    }

    public override void Default(JsonObject obj)
    {
        // Upstream labels every namespace with its own name.
        var labels = obj.Meta().Ensure("labels");
        labels["kubernetes.io/metadata.name"] = obj.Str("metadata", "name");
    }

    /// <summary>The namespaces the cluster itself lives in, which upstream's NamespaceLifecycle admission never lets go.</summary>
    private static readonly IReadOnlySet<string> Immortal = new HashSet<string>(StringComparer.Ordinal) { "default", "kube-system", "kube-public", "kube-node-lease" };

    public override void CheckDelete(string name)
    {
        if (Immortal.Contains(name))
        {
            throw ApiException.Forbidden("namespaces", name, $"namespaces \"{name}\" is forbidden: this namespace may not be deleted");
        }
    }

    public override void PrepareForUpdate(JsonObject obj, JsonObject old)
    {
        // spec.finalizers change only through the finalize subresource.
        if (old["spec"] is { } spec)
        {
            obj["spec"] = spec.DeepClone();
        }
    }
}
