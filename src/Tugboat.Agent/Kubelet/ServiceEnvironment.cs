using System.Globalization;
using System.Text.Json.Nodes;

namespace Tugboat.Agent.Kubelet;

/// <summary>
/// The environment variables upstream's kubelet gives every container for the Services of its namespace (when the
/// pod's enableServiceLinks is true) and always for <c>default/kubernetes</c>: <c>NAME_SERVICE_HOST</c>,
/// <c>NAME_SERVICE_PORT</c>, <c>NAME_SERVICE_PORT_PORTNAME</c>, and Docker-link style <c>NAME_PORT</c>,
/// <c>NAME_PORT_80_TCP</c>, <c>…_PROTO</c>, <c>…_PORT</c>, <c>…_ADDR</c>. Services without a cluster IP get none.
/// The container's own env and envFrom override them.
/// </summary>
internal static class ServiceEnvironment
{
    public static List<KeyValuePair<string, string>> For(IEnumerable<JsonObject> services, string ns, bool serviceLinks)
    {
        var env = new List<KeyValuePair<string, string>>();
        var chosen = services
            .Where(s => s["metadata"]?["namespace"]?.GetValue<string>() is { } n && ((serviceLinks && n == ns) || (n == "default" && s["metadata"]?["name"]?.GetValue<string>() == "kubernetes")))
            .OrderBy(s => s["metadata"]!["name"]!.GetValue<string>(), StringComparer.Ordinal);
        foreach (var svc in chosen)
        {
            var ip = svc["spec"]?["clusterIP"]?.GetValue<string>();
            if (string.IsNullOrEmpty(ip) || ip == "None" || svc["spec"]?["type"]?.GetValue<string>() == "ExternalName")
            {
                continue;
            }
            var ports = svc["spec"]?["ports"]?.AsArray().OfType<JsonObject>().ToList() ?? [];
            if (ports.Count == 0)
            {
                continue;
            }
            var name = Name(svc["metadata"]!["name"]!.GetValue<string>());
            env.Add(new($"{name}_SERVICE_HOST", ip));
            env.Add(new($"{name}_SERVICE_PORT", Port(ports[0])));
            foreach (var port in ports.Where(p => p["name"]?.GetValue<string>() is { Length: > 0 }))
            {
                env.Add(new($"{name}_SERVICE_PORT_{Name(port["name"]!.GetValue<string>())}", Port(port)));
            }
            for (var i = 0; i < ports.Count; i++)
            {
                var protocol = ports[i]["protocol"]?.GetValue<string>() ?? "TCP";
                var url = $"{protocol.ToLowerInvariant()}://{ip}:{Port(ports[i])}";
                if (i == 0)
                {
                    env.Add(new($"{name}_PORT", url));
                }
                var prefix = $"{name}_PORT_{Port(ports[i])}_{protocol.ToUpperInvariant()}";
                env.Add(new(prefix, url));
                env.Add(new(prefix + "_PROTO", protocol.ToLowerInvariant()));
                env.Add(new(prefix + "_PORT", Port(ports[i])));
                env.Add(new(prefix + "_ADDR", ip));
            }
        }
        return env;
    }

    private static string Name(string name) => name.ToUpperInvariant().Replace('-', '_');

    private static string Port(JsonObject port) => port["port"]!.GetValue<long>().ToString(CultureInfo.InvariantCulture);
}
