using System.Globalization;
using System.Text.Json.Nodes;

namespace Tugboat.ApiServer.Registry.Strategies;

internal sealed class ServiceAccountStrategy : Strategy
{
    public override IReadOnlyList<Column> Columns { get; } =
    [
        Column.Name_(),
        Column.Text("Secrets", "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.", o => (o.Arr("secrets")?.Count ?? 0).ToString(CultureInfo.InvariantCulture)),
        Column.Age(),
    ];
}

internal sealed class EndpointsStrategy : Strategy
{
    public override bool AllowCreateOnUpdate => true;

    public override IReadOnlyList<Column> Columns { get; } =
    [
        Column.Name_(),
        Column.Text("Endpoints", "Endpoints of the service", Endpoints),
        Column.Age(),
    ];

    /// <summary>kubectl's "10.42.0.5:80,10.42.0.6:80 + 1 more..." form: at most three endpoints shown.</summary>
    private static string Endpoints(JsonObject ep)
    {
        var all = new List<string>();
        foreach (var subset in ep.Arr("subsets").Objects())
        {
            var ports = subset.Arr("ports").Objects().Select(p => p.Long("port")).ToList();
            foreach (var a in subset.Arr("addresses").Objects())
            {
                var ip = a.Str("ip") ?? string.Empty;
                if (ports.Count == 0)
                {
                    all.Add(ip);
                }
                else
                {
                    all.AddRange(ports.Select(p => $"{ip}:{p}"));
                }
            }
        }
        if (all.Count == 0)
        {
            return Cells.None;
        }
        var shown = string.Join(",", all.Take(3));
        return all.Count > 3 ? $"{shown} + {all.Count - 3} more..." : shown;
    }
}

internal sealed class LeaseStrategy : Strategy
{
    public override IReadOnlyList<Column> Columns { get; } =
    [
        Column.Name_(),
        Column.Text("Holder", "The holder of the lease", o => o.Str("spec", "holderIdentity") ?? string.Empty),
        Column.Age(),
    ];
}

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

internal sealed class IngressStrategy : Strategy
{
    public override bool TracksGeneration => true;

    public override IReadOnlyList<Column> Columns { get; } =
    [
        Column.Name_(),
        Column.Text("Class", "The name of the IngressClass resource that should be used", o => o.Str("spec", "ingressClassName") ?? Cells.None),
        Column.Text("Hosts", "Hosts that incoming requests are matched against before the ingress rule", Hosts),
        Column.Text("Address", "Address is a list containing ingress points for the load-balancer", Address),
        Column.Text("Ports", "Ports of TLS configurations that open", o => o.Arr("spec", "tls") is { Count: > 0 } ? "80, 443" : "80"),
        Column.Age(),
    ];

    public override void PrepareForCreate(JsonObject obj, RequestContext ctx) => obj["status"] = new JsonObject { ["loadBalancer"] = new JsonObject() };

    public override void Validate(JsonObject obj, List<FieldError> errors)
    {
        var spec = obj.Obj("spec");
        if (spec?["defaultBackend"] is null && spec.Arr("rules") is not { Count: > 0 })
        {
            errors.Add(FieldError.Invalid("spec", null, "either `defaultBackend` or `rules` must be specified"));
        }
        var i = 0;
        foreach (var rule in spec.Arr("rules").Objects())
        {
            var j = 0;
            foreach (var path in rule.Arr("http", "paths").Objects())
            {
                var p = $"spec.rules[{i}].http.paths[{j}]";
                var type = path.Str("pathType");
                if (type is null)
                {
                    errors.Add(FieldError.Required(p + ".pathType", "pathType must be specified"));
                }
                else if (type is not ("Exact" or "Prefix" or "ImplementationSpecific"))
                {
                    errors.Add(FieldError.NotSupported(p + ".pathType", type, ["Exact", "ImplementationSpecific", "Prefix"]));
                }
                if (type is "Exact" or "Prefix" && !(path.Str("path") ?? string.Empty).StartsWith('/'))
                {
                    errors.Add(FieldError.Invalid(p + ".path", path.Str("path"), "must be an absolute path"));
                }
                if (path["backend"] is null)
                {
                    errors.Add(FieldError.Required(p + ".backend"));
                }
                j++;
            }
            i++;
        }
    }

    private static string Hosts(JsonObject o)
    {
        var hosts = o.Arr("spec", "rules").Objects().Select(r => r.Str("host")).Where(h => !string.IsNullOrEmpty(h)).ToList();
        if (hosts.Count == 0)
        {
            return "*";
        }
        var shown = string.Join(",", hosts.Take(4));
        return hosts.Count > 4 ? $"{shown} + {hosts.Count - 4} more..." : shown;
    }

    private static string Address(JsonObject o)
    {
        var list = o.Arr("status", "loadBalancer", "ingress").Objects().Select(i => i.Str("ip") ?? i.Str("hostname") ?? string.Empty).Where(s => s.Length > 0).ToList();
        return string.Join(",", list);
    }
}
