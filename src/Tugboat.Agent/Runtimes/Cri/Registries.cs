using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;

namespace Tugboat.Agent.Runtimes.Cri;

/// <summary>
/// Registry mirrors and settings from <c>registries.yaml</c> in k3s's schema — <c>mirrors.HOST.endpoint[]</c> (and
/// <c>"*"</c> for every registry), <c>configs.HOST.auth</c> (username/password/auth/identity_token) and
/// <c>configs.HOST.tls</c> (ca_file, cert_file, key_file, insecure_skip_verify) — rendered as containerd's
/// <c>certs.d/HOST/hosts.toml</c> files, plus the logins for containerd's configuration. A mirrored registry's
/// hosts.toml names its first endpoint as the server, so that a miss never falls back to the registry on the internet.
/// </summary>
internal sealed partial class Registries
{
    private Registries(IReadOnlyList<(string Host, IReadOnlyList<string> Endpoints)> mirrors, IReadOnlyDictionary<string, JsonObject> configs)
    {
        Mirrors = mirrors;
        Configs = configs;
    }

    public IReadOnlyList<(string Host, IReadOnlyList<string> Endpoints)> Mirrors { get; }

    /// <summary>Per registry host: its auth and tls settings as written.</summary>
    public IReadOnlyDictionary<string, JsonObject> Configs { get; }

    public static Registries Empty { get; } = new([], new Dictionary<string, JsonObject>());

    /// <summary>Reads <paramref name="file"/>; a missing file is no configuration, a malformed one an error saying where.</summary>
    public static Registries Load(string file, ILogger logger)
    {
        if (!File.Exists(file))
        {
            return Empty;
        }
        JsonObject root;
        try
        {
            root = Tugboat.Api.Serialization.Yaml.ToJson(File.ReadAllText(file)) as JsonObject ?? new JsonObject();
        }
        catch (FormatException e)
        {
            throw new InvalidOperationException($"{file}: {e.Message}");
        }
        var mirrors = new List<(string, IReadOnlyList<string>)>();
        foreach (var (host, value) in root["mirrors"] as JsonObject ?? [])
        {
            var endpoints = (value?["endpoint"] as JsonArray ?? []).Select(e => e?.GetValue<string>()).OfType<string>().Where(e => e.Length > 0)
                .Select(e => e.Contains("://", StringComparison.Ordinal) ? e.TrimEnd('/') : "https://" + e.TrimEnd('/')).ToList();
            if (value?["rewrite"] is JsonObject { Count: > 0 })
            {
                LogRewriteIgnored(logger, host);
            }
            if (endpoints.Count > 0)
            {
                mirrors.Add((host, endpoints));
            }
        }
        var configs = (root["configs"] as JsonObject ?? []).Where(p => p.Value is JsonObject)
            .ToDictionary(p => p.Key, p => (JsonObject)p.Value!, StringComparer.Ordinal);
        return new Registries(mirrors, configs);
    }

    /// <summary>Writes <c>DIR/HOST/hosts.toml</c> for every mirror and every configured registry (replacing what was there).</summary>
    public void WriteHostsFiles(string directory)
    {
        if (Directory.Exists(directory))
        {
            Directory.Delete(directory, recursive: true);
        }
        Directory.CreateDirectory(directory);
        var written = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (host, endpoints) in Mirrors)
        {
            var b = new StringBuilder();
            b.AppendLine(CultureInfo.InvariantCulture, $"server = {Quote(endpoints[0])}");
            foreach (var endpoint in endpoints)
            {
                b.AppendLine();
                b.AppendLine(CultureInfo.InvariantCulture, $"[host.{Quote(endpoint)}]");
                b.AppendLine("  capabilities = [\"pull\", \"resolve\"]");
                AppendTls(b, HostOf(endpoint));
            }
            Write(directory, host == "*" ? "_default" : host, b.ToString());
            written.Add(host);
        }
        foreach (var (host, config) in Configs.Where(c => !written.Contains(c.Key) && c.Value["tls"] is JsonObject))
        {
            var b = new StringBuilder();
            b.AppendLine(CultureInfo.InvariantCulture, $"server = {Quote("https://" + host)}");
            b.AppendLine();
            b.AppendLine(CultureInfo.InvariantCulture, $"[host.{Quote("https://" + host)}]");
            b.AppendLine("  capabilities = [\"pull\", \"resolve\", \"push\"]");
            AppendTls(b, host);
            Write(directory, host, b.ToString());
        }
    }

    /// <summary>The logins of <c>configs.HOST.auth</c>, for containerd's CRI registry configuration.</summary>
    public IEnumerable<(string Host, string? Username, string? Password, string? Auth, string? IdentityToken)> Logins() =>
        Configs.Where(c => c.Value["auth"] is JsonObject).Select(c =>
        {
            var auth = (JsonObject)c.Value["auth"]!;
            return (c.Key, auth["username"]?.GetValue<string>(), auth["password"]?.GetValue<string>(), auth["auth"]?.GetValue<string>(), auth["identity_token"]?.GetValue<string>());
        });

    private void AppendTls(StringBuilder b, string host)
    {
        if (Configs.GetValueOrDefault(host)?["tls"] is not JsonObject tls)
        {
            return;
        }
        if (tls["insecure_skip_verify"]?.GetValue<bool>() == true)
        {
            b.AppendLine("  skip_verify = true");
        }
        if (tls["ca_file"]?.GetValue<string>() is { Length: > 0 } ca)
        {
            b.AppendLine(CultureInfo.InvariantCulture, $"  ca = {Quote(ca)}");
        }
        if (tls["cert_file"]?.GetValue<string>() is { Length: > 0 } cert && tls["key_file"]?.GetValue<string>() is { Length: > 0 } key)
        {
            b.AppendLine(CultureInfo.InvariantCulture, $"  client = [[{Quote(cert)}, {Quote(key)}]]");
        }
    }

    private static string HostOf(string endpoint)
    {
        var rest = endpoint[(endpoint.IndexOf("://", StringComparison.Ordinal) + 3)..];
        return rest.Split('/')[0];
    }

    private static void Write(string directory, string host, string text)
    {
        // containerd looks hosts up by name with the port as "host:port" in the directory name.
        var dir = Path.Combine(directory, host);
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "hosts.toml"), text);
    }

    internal static string Quote(string s) => "\"" + s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";

    [LoggerMessage(Level = LogLevel.Warning, Message = "registries.yaml: the rewrite rules of {Host} are ignored (containerd 1.6 has no rewrites)")]
    private static partial void LogRewriteIgnored(ILogger logger, string host);
}
