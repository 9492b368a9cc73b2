using System.Text.Json.Nodes;

namespace Tugboat.ApiServer.Registry.Strategies;

/// <summary>
/// A strategy assembled from parts, for kinds whose behaviour is columns plus a little defaulting and validation.
/// </summary>
internal sealed class TableStrategy(IReadOnlyList<Column> columns) : Strategy
{
    public override IReadOnlyList<Column> Columns { get; } = columns;

    public bool Generation { get; init; }

    /// <summary>Status written on create (kinds with a status subresource start from it; others keep the client's).</summary>
    public Func<JsonObject>? InitialStatus { get; init; }

    public Action<JsonObject>? Defaults { get; init; }

    public Action<JsonObject, List<FieldError>>? Validation { get; init; }

    /// <summary>Admission that needs the registry (other objects), run on create and update as <see cref="Strategy.AllocateAsync"/>.</summary>
    public Func<JsonObject, JsonObject?, RequestContext, Task>? Admission { get; init; }

    public override Task AllocateAsync(JsonObject obj, JsonObject? old, RequestContext ctx) => Admission?.Invoke(obj, old, ctx) ?? Task.CompletedTask;

    /// <summary>Fields that may not change after creation, as paths from the object's root.</summary>
    public string[] Immutable { get; init; } = [];

    public NameRule Names { get; init; } = NameRule.Subdomain;

    public override NameRule NameRule => Names;

    public override bool TracksGeneration => Generation;

    public override void PrepareForCreate(JsonObject obj, RequestContext ctx)
    {
        if (InitialStatus is not null)
        {
            obj["status"] = InitialStatus();
        }
    }

    public override void Default(JsonObject obj) => Defaults?.Invoke(obj);

    public override void Validate(JsonObject obj, List<FieldError> errors) => Validation?.Invoke(obj, errors);

    public override void ValidateUpdate(JsonObject obj, JsonObject old, List<FieldError> errors)
    {
        foreach (var path in Immutable)
        {
            var parts = path.Split('.');
            if (!JsonNode.DeepEquals(obj.At(parts), old.At(parts)))
            {
                errors.Add(FieldError.Invalid(path, obj.At(parts)?.DeepClone(), "field is immutable"));
            }
        }
    }

    /// <summary>Upstream's "CREATED AT" column (an RFC 3339 timestamp, not an age).</summary>
    public static Column CreatedAt() =>
        Column.Text("Created At", "CreationTimestamp is a timestamp representing the server time when this object was created.", o => o.Str("metadata", "creationTimestamp") ?? string.Empty);

    public static void Require(JsonObject obj, List<FieldError> errors, params string[] paths)
    {
        foreach (var path in paths)
        {
            if (obj.At(path.Split('.')) is null)
            {
                errors.Add(FieldError.Required(path));
            }
        }
    }
}
