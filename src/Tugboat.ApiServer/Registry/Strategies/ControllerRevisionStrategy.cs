using System.Text.Json.Nodes;

namespace Tugboat.ApiServer.Registry.Strategies;

internal sealed class ControllerRevisionStrategy : Strategy
{
    public override IReadOnlyList<Column> Columns { get; } =
    [
        Column.Name_(),
        Column.Text("Controller", "Controller of the object", Controller),
        Column.Int("Revision", "Revision indicates the revision of the state represented by Data.", o => o.Long("revision") ?? 0),
        Column.Age(),
    ];

    public override void Validate(JsonObject obj, List<FieldError> errors)
    {
        if (obj.Long("revision") is < 0)
        {
            errors.Add(FieldError.Invalid("revision", obj.Long("revision")!.Value, "must be greater than or equal to 0"));
        }
    }

    public override void ValidateUpdate(JsonObject obj, JsonObject old, List<FieldError> errors)
    {
        if (!JsonNode.DeepEquals(obj["data"], old["data"]))
        {
            errors.Add(FieldError.Invalid("data", null, "field is immutable"));
        }
    }

    private static string Controller(JsonObject o)
    {
        var owner = o.Arr("metadata", "ownerReferences").Objects().FirstOrDefault(r => r.Bool("controller") == true);
        if (owner is null)
        {
            return Cells.None;
        }
        var apiVersion = owner.Str("apiVersion") ?? string.Empty;
        var group = apiVersion.Contains('/') ? apiVersion[..apiVersion.IndexOf('/')] : string.Empty;
        var kind = (owner.Str("kind") ?? string.Empty).ToLowerInvariant();
        return (group.Length > 0 ? $"{kind}.{group}" : kind) + "/" + owner.Str("name");
    }
}
