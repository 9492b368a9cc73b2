using System.Globalization;
using System.Text.Json.Nodes;

namespace Tugboat.ApiServer.Registry.Strategies;

internal sealed class EndpointSliceStrategy : Strategy
{
    private static readonly string[] AddressTypes = ["IPv4", "IPv6", "FQDN"];

    public override IReadOnlyList<Column> Columns { get; } =
    [
        Column.Name_(),
        Column.Text("AddressType", "The IP protocol for this slice", o => o.Str("addressType") ?? string.Empty),
        Column.Text("Ports", "The ports for this slice", Ports),
        Column.Text("Endpoints", "First 3 endpoints for this slice", Endpoints),
        Column.Age(),
    ];

    public override void Validate(JsonObject obj, List<FieldError> errors)
    {
        var type = obj.Str("addressType");
        if (type is null)
        {
            errors.Add(FieldError.Required("addressType"));
        }
        else if (!AddressTypes.Contains(type))
        {
            errors.Add(FieldError.NotSupported("addressType", type, AddressTypes));
        }
    }

    public override void ValidateUpdate(JsonObject obj, JsonObject old, List<FieldError> errors)
    {
        if (obj.Str("addressType") != old.Str("addressType"))
        {
            errors.Add(FieldError.Invalid("addressType", obj.Str("addressType"), "field is immutable"));
        }
    }

    private static string Ports(JsonObject o)
    {
        var ports = o.Arr("ports").Objects().Select(p => p.Long("port")?.ToString(CultureInfo.InvariantCulture) ?? string.Empty).ToList();
        return ports.Count == 0 ? "<unset>" : string.Join(",", ports);
    }

    private static string Endpoints(JsonObject o)
    {
        var all = o.Arr("endpoints").Objects().SelectMany(e => e.Arr("addresses")?.Select(a => a?.GetValue<string>() ?? string.Empty) ?? []).ToList();
        if (all.Count == 0)
        {
            return "<unset>";
        }
        var shown = string.Join(",", all.Take(3));
        return all.Count > 3 ? $"{shown} + {all.Count - 3} more..." : shown;
    }
}
