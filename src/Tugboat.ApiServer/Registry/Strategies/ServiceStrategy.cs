using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Tugboat.Api.Serialization;

namespace Tugboat.ApiServer.Registry.Strategies;

/// <summary>Services: upstream defaults, validation, and allocation of cluster IPs (the service range, 10.43.0.0/16 by default) and node ports (30000–32767).</summary>
internal sealed class ServiceStrategy(IPNetwork? range = null) : Strategy
{
    /// <summary>The cluster's service range (k3s's --service-cidr).</summary>
    public IPNetwork Range { get; } = range ?? DefaultRange;

    public static readonly IPNetwork DefaultRange = IPNetwork.Parse("10.43.0.0/16");

    /// <summary>The n-th address of <paramref name="range"/> (1: the API's service, 10: the cluster DNS).</summary>
    public static IPAddress Nth(IPNetwork range, uint n)
    {
        var b = range.BaseAddress.GetAddressBytes();
        var v = ((uint)b[0] << 24 | (uint)b[1] << 16 | (uint)b[2] << 8 | b[3]) + n;
        return new IPAddress([(byte)(v >> 24), (byte)(v >> 16), (byte)(v >> 8), (byte)v]);
    }

    private uint Size => 1u << (32 - Range.PrefixLength);
    public const int NodePortMin = 30000;
    public const int NodePortMax = 32767;
    private static readonly string[] Types = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
    private static readonly string[] Protocols = ["SCTP", "TCP", "UDP"];

    public override NameRule NameRule => NameRule.Dns1035Label;

    public override IReadOnlyList<Column> Columns { get; } =
    [
        Column.Name_(),
        Column.Text("Type", "The type of the service", o => o.Str("spec", "type") ?? "ClusterIP"),
        Column.Text("Cluster-IP", "The cluster IP of the service", ClusterIp),
        Column.Text("External-IP", "The external IP of the service", ExternalIp),
        Column.Text("Port(s)", "The ports of the service", Ports),
        Column.Age(),
        Column.Text("Selector", "The selector of the service", o => Cells.MapText(o.Obj("spec", "selector")), 1),
    ];

    public override IReadOnlyCollection<string> SelectableFields { get; } = ["spec.clusterIP", "spec.type"];

    public override string? GetField(JsonObject obj, string field) => obj.Str(field.Split('.'));

    public override void PrepareForCreate(JsonObject obj, RequestContext ctx) =>
        obj["status"] = new JsonObject { ["loadBalancer"] = new JsonObject() };

    public override void PrepareForUpdate(JsonObject obj, JsonObject old)
    {
        // A client that leaves out what the server allocated keeps it (kubectl replace, client-side apply).
        var spec = obj.Ensure("spec");
        var oldSpec = old.Obj("spec");
        if (string.IsNullOrEmpty(spec.Str("clusterIP")) && oldSpec?["clusterIP"] is { } ip && spec.Str("type") != "ExternalName")
        {
            spec["clusterIP"] = ip.DeepClone();
            spec["clusterIPs"] = oldSpec["clusterIPs"]?.DeepClone();
        }
        var oldPorts = oldSpec.Arr("ports").Objects().ToList();
        foreach (var p in spec.Arr("ports").Objects())
        {
            if (p["nodePort"] is null && oldPorts.FirstOrDefault(o => o.Long("port") == p.Long("port") && (o.Str("protocol") ?? "TCP") == (p.Str("protocol") ?? "TCP")) is { } match && match["nodePort"] is { } np)
            {
                p["nodePort"] = np.DeepClone();
            }
        }
    }

    public override void Default(JsonObject obj)
    {
        var spec = obj.Ensure("spec");
        spec.Default("type", "ClusterIP");
        var type = spec.Str("type");
        spec.Default("sessionAffinity", "None");
        if (type != "ExternalName")
        {
            spec.Default("internalTrafficPolicy", "Cluster");
            spec.Default("ipFamilyPolicy", "SingleStack");
            spec.Default("ipFamilies", new JsonArray("IPv4"));
        }
        if (type is "NodePort" or "LoadBalancer")
        {
            spec.Default("externalTrafficPolicy", "Cluster");
        }
        if (type == "LoadBalancer")
        {
            spec.Default("allocateLoadBalancerNodePorts", true);
        }
        if (spec.Str("sessionAffinity") == "ClientIP")
        {
            spec.Default("sessionAffinityConfig", new JsonObject { ["clientIP"] = new JsonObject { ["timeoutSeconds"] = 10800 } });
        }
        foreach (var p in spec.Arr("ports").Objects())
        {
            p.Default("protocol", "TCP");
            p.Default("targetPort", p.Long("port"));
        }
        if (spec.Str("clusterIP") is { Length: > 0 } cip && spec["clusterIPs"] is null)
        {
            spec["clusterIPs"] = new JsonArray(cip);
        }
    }

    public override void Validate(JsonObject obj, List<FieldError> errors)
    {
        var spec = obj.Obj("spec") ?? [];
        var type = spec.Str("type") ?? "ClusterIP";
        if (!Types.Contains(type))
        {
            errors.Add(FieldError.NotSupported("spec.type", type, Types));
            return;
        }
        var headless = spec.Str("clusterIP") == "None";
        var ports = spec.Arr("ports").Objects().ToList();
        if (type == "ExternalName")
        {
            if (string.IsNullOrEmpty(spec.Str("externalName")))
            {
                errors.Add(FieldError.Required("spec.externalName"));
            }
        }
        else if (ports.Count == 0 && !headless)
        {
            errors.Add(FieldError.Required("spec.ports"));
        }
        if (headless && type is "NodePort" or "LoadBalancer")
        {
            errors.Add(FieldError.Invalid("spec.clusterIPs[0]", "None", $"may not be set to 'None' for {type} services"));
        }
        var names = new HashSet<string>(StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < ports.Count; i++)
        {
            var p = ports[i];
            var path = $"spec.ports[{i}]";
            var name = p.Str("name") ?? string.Empty;
            if (ports.Count > 1 && name.Length == 0)
            {
                errors.Add(FieldError.Required(path + ".name"));
            }
            else if (name.Length > 0 && !names.Add(name))
            {
                errors.Add(FieldError.Duplicate(path + ".name", name));
            }
            var port = p.Long("port");
            if (port is null)
            {
                errors.Add(FieldError.Required(path + ".port"));
            }
            else if (port is < 1 or > 65535)
            {
                errors.Add(FieldError.Invalid(path + ".port", port.Value, "must be between 1 and 65535, inclusive"));
            }
            var protocol = p.Str("protocol") ?? "TCP";
            if (!Protocols.Contains(protocol))
            {
                errors.Add(FieldError.NotSupported(path + ".protocol", protocol, Protocols));
            }
            if (!seen.Add($"{port}/{protocol}"))
            {
                errors.Add(FieldError.Duplicate(path, new JsonObject { ["port"] = port, ["protocol"] = protocol }));
            }
            if (p.Long("nodePort") is { } np)
            {
                if (type is not ("NodePort" or "LoadBalancer"))
                {
                    errors.Add(FieldError.Forbidden(path + ".nodePort", "may not be used when `type` is '" + type + "'"));
                }
                else if (np is < NodePortMin or > NodePortMax)
                {
                    errors.Add(FieldError.Invalid(path + ".nodePort", np, $"provided port is not in the valid range. The range of valid ports is {NodePortMin}-{NodePortMax}"));
                }
            }
        }
        if (spec.Str("clusterIP") is { Length: > 0 } ip && ip != "None" && !IsServiceIp(ip))
        {
            errors.Add(FieldError.Invalid("spec.clusterIPs", new JsonArray(ip), $"failed to allocate IP {ip}: the provided IP ({ip}) is not in the valid range. The range of valid IPs is {Range}"));
        }
    }

    public override void ValidateUpdate(JsonObject obj, JsonObject old, List<FieldError> errors)
    {
        var oldIp = old.Str("spec", "clusterIP");
        var newIp = obj.Str("spec", "clusterIP");
        var typeChangedToExternalName = obj.Str("spec", "type") == "ExternalName";
        if (!string.IsNullOrEmpty(oldIp) && newIp != oldIp && !typeChangedToExternalName)
        {
            errors.Add(FieldError.Invalid("spec.clusterIPs[0]", newIp ?? string.Empty, "may not change once set"));
        }
    }

    public override async Task AllocateAsync(JsonObject obj, JsonObject? old, RequestContext ctx)
    {
        var spec = obj.Ensure("spec");
        var type = spec.Str("type") ?? "ClusterIP";
        var needsIp = type != "ExternalName" && string.IsNullOrEmpty(spec.Str("clusterIP"));
        var requestedIp = old is null && spec.Str("clusterIP") is { Length: > 0 } r && r != "None" ? r : null;
        var needsPorts = type is "NodePort" or "LoadBalancer" && !(type == "LoadBalancer" && spec.Bool("allocateLoadBalancerNodePorts") == false);
        if (type == "ExternalName")
        {
            spec.Remove("clusterIP");
            spec.Remove("clusterIPs");
        }
        if (!needsIp && requestedIp is null && !needsPorts)
        {
            return;
        }
        var registry = ctx.Registry;
        await registry.AllocationLock.WaitAsync().ConfigureAwait(false);
        try
        {
            var (ips, nodePorts) = await InUseAsync(registry, obj).ConfigureAwait(false);
            if (requestedIp is not null && ips.Contains(requestedIp))
            {
                throw ApiException.Invalid("Service", string.Empty, obj.Str("metadata", "name") ?? string.Empty,
                    [FieldError.Invalid("spec.clusterIPs", new JsonArray(requestedIp), $"failed to allocate IP {requestedIp}: provided IP is already allocated")]);
            }
            if (needsIp)
            {
                var ip = AllocateIp(ips);
                spec["clusterIP"] = ip;
                spec["clusterIPs"] = new JsonArray(ip);
            }
            if (needsPorts)
            {
                var i = 0;
                foreach (var p in spec.Arr("ports").Objects())
                {
                    var oldPort = old.Arr("spec", "ports").Objects().Select(o => o.Long("nodePort")).Contains(p.Long("nodePort"));
                    if (p.Long("nodePort") is { } np)
                    {
                        if (!oldPort && !nodePorts.Add((int)np))
                        {
                            throw ApiException.Invalid("Service", string.Empty, obj.Str("metadata", "name") ?? string.Empty,
                                [FieldError.Invalid($"spec.ports[{i}].nodePort", np, "provided port is already allocated")]);
                        }
                    }
                    else
                    {
                        var port = AllocatePort(nodePorts);
                        p["nodePort"] = port;
                    }
                    i++;
                }
            }
        }
        finally
        {
            registry.AllocationLock.Release();
        }
    }

    private static async Task<(HashSet<string> Ips, HashSet<int> NodePorts)> InUseAsync(Registry registry, JsonObject self)
    {
        var rt = registry.Catalog.Get(string.Empty, "Service");
        var all = await registry.Store.ListAsync(rt.KeyPrefix).ConfigureAwait(false);
        var range = ((ServiceStrategy)registry.Catalog.Get(string.Empty, "Service").Strategy).Range;
        var ips = new HashSet<string>(StringComparer.Ordinal) { Nth(range, 0).ToString(), Nth(range, (1u << (32 - range.PrefixLength)) - 1).ToString() };
        var ports = new HashSet<int>();
        var selfUid = self.Str("metadata", "uid");
        foreach (var e in all.Items)
        {
            var svc = JsonLimits.Parse(e.Value.Span)!;
            if (svc.Str("metadata", "uid") == selfUid)
            {
                continue;
            }
            if (svc.Str("spec", "clusterIP") is { } ip)
            {
                ips.Add(ip);
            }
            foreach (var p in svc.Arr("spec", "ports").Objects())
            {
                if (p.Long("nodePort") is { } np)
                {
                    ports.Add((int)np);
                }
            }
        }
        return (ips, ports);
    }

    private bool IsServiceIp(string ip) =>
        IPAddress.TryParse(ip, out var a) && a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && Range.Contains(a);

    private string AllocateIp(HashSet<string> used)
    {
        // Upstream keeps the low part of the range for static IPs (.1 is the API, .10 the DNS service): a sixteenth of
        // it, at least 16 and at most 256 addresses.
        var size = (int)Math.Min(Size, 1u << 24);
        var reserved = Math.Clamp(size / 16, 16, 256);
        for (var attempt = 0; attempt < size && reserved < size - 1; attempt++)
        {
            var ip = Nth(Range, (uint)RandomNumberGenerator.GetInt32(reserved, size - 1)).ToString();
            if (used.Add(ip))
            {
                return ip;
            }
        }
        for (var offset = 2; offset < size - 1; offset++)
        {
            var ip = Nth(Range, (uint)offset).ToString();
            if (used.Add(ip))
            {
                return ip;
            }
        }
        throw new ApiException(500, "InternalError", "Internal error occurred: failed to allocate a serviceIP: range is full");
    }

    /// <summary>
    /// Upstream's node port allocation (KEP-3668): ports are drawn from above the range's static band (its lowest
    /// min(max(16, size/32), 128) ports, kept for services that ask for a port), and from the band only once the rest
    /// is full.
    /// </summary>
    private static int AllocatePort(HashSet<int> used)
    {
        const int size = NodePortMax - NodePortMin + 1;
        var band = Math.Min(Math.Max(16, size / 32), 128);
        return Draw(NodePortMin + band, NodePortMax) ?? Draw(NodePortMin, NodePortMin + band - 1)
            ?? throw new ApiException(500, "InternalError", "Internal error occurred: failed to allocate a nodePort: range is full");

        int? Draw(int low, int high)
        {
            var count = high - low + 1;
            var start = RandomNumberGenerator.GetInt32(0, count);
            for (var i = 0; i < count; i++)
            {
                var port = low + ((start + i) % count);
                if (used.Add(port))
                {
                    return port;
                }
            }
            return null;
        }
    }

    private static string ClusterIp(JsonObject o)
    {
        if (o.Str("spec", "type") == "ExternalName")
        {
            return Cells.None;
        }
        var ips = o.Arr("spec", "clusterIPs")?.Select(n => n?.GetValue<string>() ?? string.Empty).ToList();
        if (ips is { Count: > 0 })
        {
            return string.Join(",", ips);
        }
        return o.Str("spec", "clusterIP") is { Length: > 0 } ip ? ip : Cells.None;
    }

    private static string ExternalIp(JsonObject o)
    {
        var spec = o.Obj("spec");
        var external = spec.Arr("externalIPs")?.Select(n => n?.GetValue<string>() ?? string.Empty).ToList() ?? [];
        switch (spec.Str("type"))
        {
            case "ExternalName":
                return spec.Str("externalName") ?? Cells.None;
            case "LoadBalancer":
                var lb = o.Arr("status", "loadBalancer", "ingress").Objects().Select(i => i.Str("ip") ?? i.Str("hostname") ?? string.Empty).Concat(external).ToList();
                return lb.Count == 0 ? "<pending>" : string.Join(",", lb);
            default:
                return external.Count == 0 ? Cells.None : string.Join(",", external);
        }
    }

    private static string Ports(JsonObject o)
    {
        var ports = o.Arr("spec", "ports").Objects().Select(p =>
        {
            var port = p.Long("port")?.ToString(CultureInfo.InvariantCulture);
            var proto = p.Str("protocol") ?? "TCP";
            return p.Long("nodePort") is { } np ? $"{port}:{np}/{proto}" : $"{port}/{proto}";
        }).ToList();
        return ports.Count == 0 ? Cells.None : string.Join(",", ports);
    }
}
