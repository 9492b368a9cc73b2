using System.Text;
using System.Text.RegularExpressions;

namespace Tugboat.Network.Ingress;

/// <summary>
/// Renders an <see cref="IngressTable"/> as an nginx configuration: one server per host (SNI picks its certificate),
/// a catch-all server for rules without host, locations in upstream's precedence (Exact as <c>location =</c>,
/// Prefix as anchored regular expressions longest first, <c>/</c> as the fallback), an upstream with kept-alive
/// connections per backend going straight to the pod addresses, X-Forwarded-* headers, WebSocket upgrades, HTTP/2 on
/// TLS, and a 503 with a plain explanation for a backend without ready endpoints. Responses are passed on as they
/// arrive (proxy_buffering off, ingress-nginx's default), which also saves a copy per request.
/// </summary>
public sealed class NginxConfig
{
    public required string StateDir { get; init; }

    public required IReadOnlyList<string> Addresses { get; init; }

    public required int HttpPort { get; init; }

    public required int HttpsPort { get; init; }

    /// <summary>The certificate served when no Ingress TLS secret covers the name (paths of PEM files).</summary>
    public required (string Certificate, string Key) DefaultCertificate { get; init; }

    /// <summary>Where the secret's PEM files are written (by the caller) for a TLS secret key.</summary>
    public string CertificatePath(string secretKey) => Path.Combine(StateDir, "certs", secretKey.Replace('/', '_') + ".crt");

    public string KeyPath(string secretKey) => Path.Combine(StateDir, "certs", secretKey.Replace('/', '_') + ".key");

    public string Render(IngressTable table)
    {
        var sb = new StringBuilder();
        var tmp = Path.Combine(StateDir, "tmp");
        sb.Append($$"""
            worker_processes auto;
            pcre_jit on;
            daemon off;
            pid {{Path.Combine(StateDir, "nginx.pid")}};
            error_log {{Path.Combine(StateDir, "error.log")}} warn;
            events { worker_connections 4096; }
            http {
              access_log off;
              server_tokens off;
              client_body_temp_path {{tmp}}/body;
              proxy_temp_path {{tmp}}/proxy;
              fastcgi_temp_path {{tmp}}/fastcgi;
              uwsgi_temp_path {{tmp}}/uwsgi;
              scgi_temp_path {{tmp}}/scgi;
              server_names_hash_bucket_size 128;
              map $http_upgrade $connection_upgrade { default upgrade; '' ''; }
              proxy_http_version 1.1;
              proxy_set_header Host $host;
              proxy_set_header Upgrade $http_upgrade;
              proxy_set_header Connection $connection_upgrade;
              proxy_set_header X-Real-IP $remote_addr;
              proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
              proxy_set_header X-Forwarded-Host $host;
              proxy_set_header X-Forwarded-Port $server_port;
              proxy_set_header X-Forwarded-Proto $scheme;
              proxy_connect_timeout 5s;
              proxy_read_timeout 60s;
              proxy_next_upstream error timeout;
              proxy_buffering off;
              ssl_protocols TLSv1.2 TLSv1.3;
              ssl_certificate {{DefaultCertificate.Certificate}};
              ssl_certificate_key {{DefaultCertificate.Key}};

            """);
        var backends = table.Hosts.SelectMany(h => h.Paths.Select(p => p.Backend)).Append(table.DefaultBackend).OfType<IngressBackend>()
            .Where(b => b.Endpoints.Count > 0).DistinctBy(b => b.Key).ToList();
        foreach (var backend in backends)
        {
            sb.Append($"  upstream {Upstream(backend)} {{\n");
            foreach (var endpoint in backend.Endpoints)
            {
                sb.Append($"    server {endpoint};\n");
            }
            sb.Append("    keepalive 32;\n    keepalive_requests 10000;\n  }\n");
        }
        var hostless = table.Hosts.FirstOrDefault(h => h.Host.Length == 0);
        Server(sb, "_", hostless, table, defaultServer: true);
        foreach (var host in table.Hosts.Where(h => h.Host.Length > 0))
        {
            Server(sb, host.Host, host, table, defaultServer: false);
        }
        sb.Append("}\n");
        return sb.ToString();
    }

    private void Server(StringBuilder sb, string name, IngressHost? host, IngressTable table, bool defaultServer)
    {
        var flag = defaultServer ? " default_server" : string.Empty;
        sb.Append("  server {\n");
        foreach (var address in Addresses)
        {
            if (HttpPort > 0)
            {
                sb.Append($"    listen {address}:{HttpPort}{flag};\n");
            }
            if (HttpsPort > 0)
            {
                sb.Append($"    listen {address}:{HttpsPort} ssl http2{flag};\n");
            }
        }
        sb.Append($"    server_name {ServerName(name)};\n");
        if (host?.TlsSecret is { } secret && table.Certificates.ContainsKey(secret))
        {
            sb.Append($"    ssl_certificate {CertificatePath(secret)};\n    ssl_certificate_key {KeyPath(secret)};\n");
        }
        var paths = host?.Paths ?? [];
        foreach (var path in paths)
        {
            if (path.PathType == "Exact")
            {
                sb.Append($"    location = {Quote(path.Path)} {{\n");
            }
            else if (path.Path == "/")
            {
                continue;
            }
            else
            {
                sb.Append($"    location ~ {Quote("^" + Regex.Escape(path.Path) + "(/|$)")} {{\n");
            }
            Proxy(sb, path.Backend);
            sb.Append("    }\n");
        }
        sb.Append("    location / {\n");
        if (paths.FirstOrDefault(p => p.Path == "/" && p.PathType != "Exact") is { } root)
        {
            Proxy(sb, root.Backend);
        }
        else if (table.DefaultBackend is { } fallback)
        {
            Proxy(sb, fallback);
        }
        else
        {
            sb.Append("      default_type text/plain;\n      return 404 \"404 Not Found: no Ingress rule matches this host and path\\n\";\n");
        }
        sb.Append("    }\n  }\n");
    }

    private static void Proxy(StringBuilder sb, IngressBackend backend)
    {
        if (backend.Endpoints.Count == 0)
        {
            sb.Append($"      default_type text/plain;\n      return 503 {Quote($"503 Service Unavailable: {backend.Error?.Replace("$", string.Empty)}\n")};\n");
            return;
        }
        sb.Append($"      proxy_pass http://{Upstream(backend)};\n");
    }

    private static string Upstream(IngressBackend backend) => "backend-" + Regex.Replace(backend.Key, "[^A-Za-z0-9_-]", "_");

    /// <summary>A wildcard host matches one label, as upstream's; nginx's own wildcard would match several.</summary>
    private static string ServerName(string host) =>
        host.StartsWith("*.", StringComparison.Ordinal) ? "\"~^[^.]+" + Regex.Escape(host[1..]).Replace("\"", "\\\"") + "$\"" : host;

    /// <summary>An nginx string in double quotes, with quotes and backslashes escaped.</summary>
    private static string Quote(string s) => "\"" + s.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n") + "\"";
}
