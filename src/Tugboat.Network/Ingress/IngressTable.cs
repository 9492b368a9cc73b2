using System.Text.Json.Nodes;
using Tugboat.Network.Proxy;

namespace Tugboat.Network.Ingress;

/// <summary>Where matching requests go: a Service port's ready endpoints, or an error explaining why there are none.</summary>
public sealed record IngressBackend(string Namespace, string Service, string Port, IReadOnlyList<string> Endpoints, string? Error)
{
    /// <summary>A stable name for the nginx upstream of this backend.</summary>
    public string Key => $"{Namespace}-{Service}-{Port}";
}

/// <summary>One path rule of a host: Exact, Prefix or ImplementationSpecific (treated as Prefix, as ingress-nginx does).</summary>
public sealed record IngressPath(string Path, string PathType, IngressBackend Backend, string Ingress);

/// <summary>The rules of one host ("" for rules without a host), in upstream's precedence order.</summary>
public sealed record IngressHost(string Host, IReadOnlyList<IngressPath> Paths, string? TlsSecret);

/// <summary>
/// The routing table of the Ingresses of one class: hosts with their paths, TLS secrets, a default backend, and the
/// problems found on the way (a missing Service or Secret), which are reported as events and never stop other routes.
/// </summary>
public sealed class IngressTable
{
    public const string DefaultClassAnnotation = "ingressclass.kubernetes.io/is-default-class";

    public IReadOnlyList<IngressHost> Hosts { get; private init; } = [];

    public IngressBackend? DefaultBackend { get; private init; }

    /// <summary>TLS certificates by secret key ("ns/name"): PEM certificate chain and key.</summary>
    public IReadOnlyDictionary<string, (string Certificate, string Key)> Certificates { get; private init; } = new Dictionary<string, (string, string)>();

    /// <summary>Problems by Ingress key ("ns/name"), each a reason and a message for an event.</summary>
    public IReadOnlyList<(string Ingress, string Reason, string Message)> Problems { get; private init; } = [];

    /// <summary>The Ingresses (keys) this table serves, for their status.</summary>
    public IReadOnlyList<JsonObject> Ingresses { get; private init; } = [];

    /// <summary>True for an Ingress of one of <paramref name="classes"/> (the IngressClasses of this controller), or of none when one of them is the default.</summary>
    public static bool IsOurs(JsonObject ingress, IReadOnlyList<JsonObject> classes)
    {
        var names = classes.Select(c => c["metadata"]!["name"]!.GetValue<string>()).ToHashSet(StringComparer.Ordinal);
        var requested = ingress["spec"]?["ingressClassName"]?.GetValue<string>() ?? ingress["metadata"]?["annotations"]?["kubernetes.io/ingress.class"]?.GetValue<string>();
        return requested is null
            ? classes.Any(c => c["metadata"]?["annotations"]?[DefaultClassAnnotation]?.GetValue<string>() == "true")
            : names.Contains(requested);
    }

    public static IngressTable Build(IEnumerable<JsonObject> ingresses, IEnumerable<JsonObject> services, IEnumerable<JsonObject> slices, IEnumerable<JsonObject> secrets)
    {
        var servicesByKey = services.ToDictionary(s => $"{s["metadata"]!["namespace"]}/{s["metadata"]!["name"]}", StringComparer.Ordinal);
        var slicesByService = ServiceTable.SlicesByService(slices);
        var secretsByKey = secrets.ToDictionary(s => $"{s["metadata"]!["namespace"]}/{s["metadata"]!["name"]}", StringComparer.Ordinal);
        var problems = new List<(string, string, string)>();
        var certificates = new Dictionary<string, (string, string)>(StringComparer.Ordinal);
        var hosts = new Dictionary<string, (List<IngressPath> Paths, string? Tls)>(StringComparer.Ordinal);
        IngressBackend? defaultBackend = null;
        // Oldest first, as upstream controllers resolve conflicts: the first Ingress to claim a host and path keeps it.
        var ordered = ingresses.OrderBy(i => i["metadata"]?["creationTimestamp"]?.GetValue<string>() ?? string.Empty, StringComparer.Ordinal)
            .ThenBy(i => $"{i["metadata"]!["namespace"]}/{i["metadata"]!["name"]}", StringComparer.Ordinal).ToList();
        foreach (var ingress in ordered)
        {
            var ns = ingress["metadata"]!["namespace"]!.GetValue<string>();
            var key = $"{ns}/{ingress["metadata"]!["name"]}";
            IngressBackend Resolve(JsonObject? backend) => Backend(ns, backend, servicesByKey, slicesByService, key, problems);
            if (ingress["spec"]?["defaultBackend"] is JsonObject fallback)
            {
                defaultBackend ??= Resolve(fallback);
            }
            foreach (var tls in ingress["spec"]?["tls"]?.AsArray().OfType<JsonObject>() ?? [])
            {
                var secretName = tls["secretName"]?.GetValue<string>();
                var tlsHosts = tls["hosts"]?.AsArray().Select(h => h!.GetValue<string>().ToLowerInvariant()).ToList() ?? [];
                if (secretName is null)
                {
                    continue;
                }
                var secretKey = $"{ns}/{secretName}";
                if (!secretsByKey.TryGetValue(secretKey, out var secret))
                {
                    problems.Add((key, "MissingSecret", $"TLS secret \"{secretName}\" not found in namespace \"{ns}\"; {string.Join(", ", tlsHosts)} served with the default certificate"));
                    continue;
                }
                var crt = Decode(secret["data"]?["tls.crt"]);
                var pem = Decode(secret["data"]?["tls.key"]);
                if (crt is null || pem is null || !crt.Contains("BEGIN CERTIFICATE", StringComparison.Ordinal) || !pem.Contains("PRIVATE KEY", StringComparison.Ordinal))
                {
                    problems.Add((key, "InvalidSecret", $"secret \"{secretName}\" has no PEM tls.crt and tls.key; {string.Join(", ", tlsHosts)} served with the default certificate"));
                    continue;
                }
                certificates[secretKey] = (crt, pem);
                foreach (var host in tlsHosts)
                {
                    var entry = hosts.TryGetValue(host, out var existing) ? existing : ([], null);
                    hosts[host] = (entry.Paths, entry.Tls ?? secretKey);
                }
            }
            foreach (var rule in ingress["spec"]?["rules"]?.AsArray().OfType<JsonObject>() ?? [])
            {
                var host = rule["host"]?.GetValue<string>()?.ToLowerInvariant() ?? string.Empty;
                var entry = hosts.TryGetValue(host, out var existing) ? existing : ([], null);
                hosts[host] = entry;
                foreach (var path in rule["http"]?["paths"]?.AsArray().OfType<JsonObject>() ?? [])
                {
                    var type = path["pathType"]?.GetValue<string>() ?? "ImplementationSpecific";
                    var value = path["path"]?.GetValue<string>() ?? "/";
                    if (type != "Exact")
                    {
                        // Upstream: a trailing slash does not matter to a Prefix match ("/foo/" is "/foo").
                        value = value.TrimEnd('/');
                        value = value.Length == 0 ? "/" : value;
                    }
                    if (entry.Paths.Any(p => p.Path == value && (p.PathType == "Exact") == (type == "Exact")))
                    {
                        continue;
                    }
                    entry.Paths.Add(new IngressPath(value, type, Resolve(path["backend"] as JsonObject), key));
                }
            }
        }
        return new IngressTable
        {
            Hosts = hosts.Select(h => new IngressHost(h.Key, Ordered(h.Value.Paths), h.Value.Tls)).OrderBy(h => h.Host, StringComparer.Ordinal).ToList(),
            DefaultBackend = defaultBackend,
            Certificates = certificates,
            Problems = problems,
            Ingresses = ordered,
        };
    }

    /// <summary>Upstream's precedence: the longest matching path wins; for equal paths, Exact before Prefix.</summary>
    private static List<IngressPath> Ordered(List<IngressPath> paths) =>
        paths.OrderByDescending(p => p.Path.Length).ThenBy(p => p.PathType == "Exact" ? 0 : 1).ThenBy(p => p.Path, StringComparer.Ordinal).ToList();

    private static string? Decode(JsonNode? base64)
    {
        try
        {
            return base64 is null ? null : System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(base64.GetValue<string>()));
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private static IngressBackend Backend(string ns, JsonObject? backend, Dictionary<string, JsonObject> services, Dictionary<string, List<JsonObject>> slices, string ingress, List<(string, string, string)> problems)
    {
        var name = backend?["service"]?["name"]?.GetValue<string>();
        var port = backend?["service"]?["port"] as JsonObject;
        var portText = port?["name"]?.GetValue<string>() ?? port?["number"]?.ToString() ?? string.Empty;
        if (name is null)
        {
            return new IngressBackend(ns, "-", portText, [], "the backend is not a service (resource backends are not supported)");
        }
        if (!services.TryGetValue($"{ns}/{name}", out var svc))
        {
            problems.Add((ingress, "ServiceNotFound", $"service \"{ns}/{name}\" not found"));
            return new IngressBackend(ns, name, portText, [], $"service \"{ns}/{name}\" not found");
        }
        var servicePort = svc["spec"]?["ports"]?.AsArray().OfType<JsonObject>().FirstOrDefault(p =>
            port?["name"] is { } n ? p["name"]?.GetValue<string>() == n.GetValue<string>() : p["port"]?.GetValue<long>() == port?["number"]?.GetValue<long>());
        if (servicePort is null)
        {
            problems.Add((ingress, "ServicePortNotFound", $"service \"{ns}/{name}\" has no port {portText}"));
            return new IngressBackend(ns, name, portText, [], $"service \"{ns}/{name}\" has no port {portText}");
        }
        var portName = servicePort["name"]?.GetValue<string>() ?? string.Empty;
        var endpoints = ServiceTable.Endpoints(slices.GetValueOrDefault($"{ns}/{name}") ?? [], portName, "TCP")
            .Where(e => e.Ready).Select(e => $"{e.Endpoint.Ip}:{e.Endpoint.Port}").Order(StringComparer.Ordinal).ToList();
        return new IngressBackend(ns, name, portText, endpoints, endpoints.Count == 0 ? $"no ready endpoints for service \"{ns}/{name}\"" : null);
    }

    /// <summary>
    /// The rule a request goes to, with upstream's semantics: the host's rules — the exact host, else a wildcard host
    /// matching one label (<c>*.example.com</c>), else the rules without host — and among them the longest matching
    /// path (Exact before Prefix; a Prefix matches whole path elements); else the default backend. Null when nothing
    /// matches (404).
    /// </summary>
    public IngressBackend? Match(string host, string path)
    {
        var rules = HostFor(host.Split(':')[0].ToLowerInvariant());
        return rules?.Paths.FirstOrDefault(p => Matches(p, path))?.Backend ?? DefaultBackend;
    }

    private IngressHost? HostFor(string host) =>
        Hosts.FirstOrDefault(h => h.Host == host)
        ?? Hosts.FirstOrDefault(h => h.Host.StartsWith("*.", StringComparison.Ordinal) && host.EndsWith(h.Host[1..], StringComparison.Ordinal) && !host[..^(h.Host.Length - 1)].Contains('.'))
        ?? Hosts.FirstOrDefault(h => h.Host.Length == 0);

    internal static bool Matches(IngressPath rule, string path) =>
        rule.PathType == "Exact"
            ? path == rule.Path
            : rule.Path == "/" || path == rule.Path || path.StartsWith(rule.Path + "/", StringComparison.Ordinal);
}
