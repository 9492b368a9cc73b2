using System.Text.Json.Nodes;

namespace Tugboat.ApiServer.Registry;

/// <summary>A server-side table column: name, OpenAPI type and format, priority (1 = only with <c>-o wide</c>), and its cell.</summary>
internal sealed record Column(string Name, string Type, string Format, string Description, int Priority, Func<JsonObject, DateTimeOffset, object?> Cell)
{
    public static Column Name_() => new("Name", "string", "name", "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names", 0, (o, _) => o.Str("metadata", "name") ?? string.Empty);

    public static Column Age() => new("Age", "string", string.Empty, "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata", 0, (o, now) => Cells.Age(o.Str("metadata", "creationTimestamp"), now));

    public static Column Text(string name, string description, Func<JsonObject, object?> cell, int priority = 0) =>
        new(name, "string", string.Empty, description, priority, (o, _) => cell(o));

    public static Column Int(string name, string description, Func<JsonObject, object?> cell, int priority = 0) =>
        new(name, "integer", string.Empty, description, priority, (o, _) => cell(o));
}
