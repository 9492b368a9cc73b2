using System.Globalization;
using System.Text.Json.Nodes;

namespace Tugboat.ApiServer.Registry.Strategies;

internal sealed class EventStrategy : Strategy
{
    public override bool AllowCreateOnUpdate => true;

    public override NameRule NameRule => NameRule.PathSegment;

    public override IReadOnlyList<Column> Columns { get; } =
    [
        new("Last Seen", "string", string.Empty, "Time when this Event was last observed.", 0, LastSeen),
        Column.Text("Type", "Type of this event (Normal, Warning), new types could be added in the future.", o => o.Str("type") ?? string.Empty),
        Column.Text("Reason", "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.", o => o.Str("reason") ?? string.Empty),
        Column.Text("Object", "The object that this event is about.", Object),
        Column.Text("Subobject", "The subobject (field path) of the object this event is about.", o => o.Str("involvedObject", "fieldPath") ?? string.Empty, 1),
        Column.Text("Source", "The component reporting this event. Should be a short machine understandable string.", Source, 1),
        Column.Text("Message", "A human-readable description of the status of this operation.", o => (o.Str("message") ?? string.Empty).Trim()),
        new("First Seen", "string", string.Empty, "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)", 1, (o, now) => Cells.Age(o.Str("firstTimestamp") ?? o.Str("eventTime") ?? o.Str("metadata", "creationTimestamp"), now)),
        Column.Int("Count", "The number of times this event has occurred.", o => o.Long("count") ?? 1, 1),
        Column.Text("Name", "Name must be unique within a namespace.", o => o.Str("metadata", "name") ?? string.Empty, 1),
    ];

    public override IReadOnlyCollection<string> SelectableFields { get; } =
    [
        "involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid", "involvedObject.apiVersion",
        "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type",
    ];

    public override string? GetField(JsonObject obj, string field) => field switch
    {
        "source" => obj.Str("source", "component") ?? obj.Str("reportingComponent"),
        "reportingComponent" => obj.Str("reportingComponent") ?? string.Empty,
        _ => obj.Str(field.Split('.')),
    };

    public override void Validate(JsonObject obj, List<FieldError> errors)
    {
        if (obj["involvedObject"] is not JsonObject)
        {
            errors.Add(FieldError.Required("involvedObject"));
        }
        else if (obj.Str("involvedObject", "namespace") is { Length: > 0 } ns && ns != obj.Str("metadata", "namespace"))
        {
            errors.Add(FieldError.Invalid("involvedObject.namespace", ns, "does not match event.namespace"));
        }
    }

    private static string LastSeen(JsonObject o, DateTimeOffset now)
    {
        var last = o.Str("lastTimestamp") ?? o.Str("eventTime") ?? o.Str("metadata", "creationTimestamp");
        var count = o.Long("count") ?? 1;
        var lastText = Cells.Age(last, now);
        if (count > 1 && o.Str("firstTimestamp") is { } first)
        {
            return $"{lastText} (x{count.ToString(CultureInfo.InvariantCulture)} over {Cells.Age(first, now)})";
        }
        return lastText;
    }

    private static string Object(JsonObject o) =>
        $"{(o.Str("involvedObject", "kind") ?? string.Empty).ToLowerInvariant()}/{o.Str("involvedObject", "name")}";

    private static string Source(JsonObject o)
    {
        var component = o.Str("source", "component") ?? o.Str("reportingComponent") ?? string.Empty;
        var host = o.Str("source", "host") ?? o.Str("reportingInstance");
        return string.IsNullOrEmpty(host) ? component : $"{component}, {host}";
    }
}
