using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace Tugboat.ApiServer.Security;

/// <summary>An authenticated user: name and groups.</summary>
internal sealed record UserInfo(string Name, IReadOnlyList<string> Groups);

/// <summary>Who the server is (version, advertised address) and who may talk to it (client certificates from the cluster CA, the node token).</summary>
internal sealed class ServerIdentity(string advertiseAddress, string nodeToken, string caPem)
{
    /// <summary>The cluster CA certificate (PEM), served without authentication at /cacerts for joining agents, which check it against the hash in their token.</summary>
    public string CaPem { get; } = caPem;

    /// <summary>The node join token; the API server presents it to node agents when it calls them (logs, exec, port-forward).</summary>
    public string NodeToken { get; } = nodeToken;

    /// <summary>The Kubernetes version whose API this server implements.</summary>
    public const string KubernetesVersion = "v1.30.0";

    public string AdvertiseAddress { get; } = advertiseAddress;

    /// <summary>
    /// True for requests with a client certificate (already chain-checked against the cluster CA during the TLS handshake)
    /// or with the node join token as bearer token; anonymous requests are refused.
    /// </summary>
    public UserInfo? Authenticate(HttpContext http)
    {
        if (http.Connection.ClientCertificate is { } cert)
        {
            // As upstream: the common name is the user, each organization a group.
            var subject = cert.SubjectName.EnumerateRelativeDistinguishedNames().ToList();
            var name = subject.Where(r => r.GetSingleElementType().Value == "2.5.4.3").Select(r => r.GetSingleElementValue()).FirstOrDefault() ?? string.Empty;
            var groups = subject.Where(r => r.GetSingleElementType().Value == "2.5.4.10").Select(r => r.GetSingleElementValue() ?? string.Empty).ToList();
            return new UserInfo(name, [.. groups, "system:authenticated"]);
        }
        var header = http.Request.Headers.Authorization.ToString();
        if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
            && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(header[7..].Trim()), Encoding.UTF8.GetBytes(NodeToken)))
        {
            return new UserInfo("system:node-bootstrap", ["system:nodes", "system:authenticated"]);
        }
        return null;
    }

    public JsonObject Version() => new()
    {
        ["major"] = "1",
        ["minor"] = KubernetesVersion.Split('.')[1],
        ["gitVersion"] = KubernetesVersion + "+tugboat",
        ["gitCommit"] = ThisAssemblyCommit(),
        ["gitTreeState"] = "clean",
        ["buildDate"] = "1970-01-01T00:00:00Z",
        ["goVersion"] = "dotnet" + Environment.Version,
        ["compiler"] = "dotnet",
        ["platform"] = $"linux/{(System.Runtime.InteropServices.RuntimeInformation.OSArchitecture == System.Runtime.InteropServices.Architecture.Arm64 ? "arm64" : "amd64")}",
    };

    private static string ThisAssemblyCommit() =>
        typeof(ServerIdentity).Assembly.GetName().Version?.ToString() ?? "unknown";
}
