using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using Tugboat.Api.Serialization;

namespace Tugboat.Client;

/// <summary>Where the API server is and how to authenticate: read from a kubeconfig's current context.</summary>
public sealed record ClientConfig(Uri Server, X509Certificate2 ClusterCa, X509Certificate2? ClientCertificate, string? BearerToken)
{
    /// <summary>Loads the current context of a kubeconfig with embedded (<c>*-data</c>) credentials, as tug server writes it.</summary>
    public static ClientConfig FromKubeconfig(string path)
    {
        var config = Yaml.ToJson(File.ReadAllText(path)) as JsonObject ?? throw new FormatException($"{path} is not a kubeconfig");
        var current = config["current-context"]?.GetValue<string>();
        var context = Named(config, "contexts", current)?["context"];
        var cluster = Named(config, "clusters", context?["cluster"]?.GetValue<string>())?["cluster"]
            ?? throw new FormatException($"{path}: no cluster for context {current}");
        var user = Named(config, "users", context?["user"]?.GetValue<string>())?["user"];
        var ca = X509Certificate2.CreateFromPem(Decode(cluster["certificate-authority-data"]));
        X509Certificate2? cert = null;
        if (user?["client-certificate-data"] is { } certData && user["client-key-data"] is { } keyData)
        {
            using var pem = X509Certificate2.CreateFromPem(Decode(certData), Decode(keyData));
            // A certificate with an ephemeral key cannot be used for TLS client authentication on every platform.
            cert = X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
        }
        return new ClientConfig(new Uri(cluster["server"]!.GetValue<string>()), ca, cert, user?["token"]?.GetValue<string>());
    }

    private static JsonNode? Named(JsonObject config, string list, string? name) =>
        config[list]?.AsArray().FirstOrDefault(e => e?["name"]?.GetValue<string>() == name);

    private static string Decode(JsonNode? base64) =>
        Encoding.UTF8.GetString(Convert.FromBase64String(base64?.GetValue<string>() ?? throw new FormatException("missing credential data")));
}
