using System.Text.Json.Nodes;

namespace Tugboat.ApiServer.Registry.Strategies;

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

    /// <summary>
    /// Upstream's DefaultIngressClass admission on create: an Ingress that names no class (neither
    /// spec.ingressClassName nor the old kubernetes.io/ingress.class annotation) gets the default IngressClass, the one
    /// annotated ingressclass.kubernetes.io/is-default-class=true (the newest, when several are).
    /// </summary>
    public override async Task AllocateAsync(JsonObject obj, JsonObject? old, RequestContext ctx)
    {
        if (old is not null || obj.Str("spec", "ingressClassName") is not null || obj.Str("metadata", "annotations", "kubernetes.io/ingress.class") is not null)
        {
            return;
        }
        var classes = ctx.Registry.Catalog.Get("networking.k8s.io", "IngressClass");
        var all = await ctx.Registry.Store.ListAsync(classes.KeyPrefix).ConfigureAwait(false);
        var defaultClass = all.Items.Select(e => ObjectCodec.Decode(e))
            .Where(c => c.Str("metadata", "annotations", "ingressclass.kubernetes.io/is-default-class") == "true")
            .OrderByDescending(c => c.Str("metadata", "creationTimestamp"), StringComparer.Ordinal)
            .FirstOrDefault();
        if (defaultClass?.Str("metadata", "name") is { } name)
        {
            obj.Ensure("spec")["ingressClassName"] = name;
        }
    }

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
