using System.Text;
using Tugboat.ApiServer.Security;

namespace Tugboat.ApiServer.Hosting;

/// <summary>Writes the admin kubeconfig (cluster CA, server URL, client certificate), as k3s does.</summary>
internal static class Kubeconfig
{
    public static void Write(string path, string serverUrl, Pki pki)
    {
        static string B64(string pem) => Convert.ToBase64String(Encoding.UTF8.GetBytes(pem));
        var yaml = $"""
            apiVersion: v1
            kind: Config
            clusters:
            - cluster:
                certificate-authority-data: {B64(pki.CaPem)}
                server: {serverUrl}
              name: default
            contexts:
            - context:
                cluster: default
                user: default
              name: default
            current-context: default
            preferences: {"{}"}
            users:
            - name: default
              user:
                client-certificate-data: {B64(pki.AdminCertificatePem)}
                client-key-data: {B64(pki.AdminKeyPem)}

            """;
        PrivateFile.Write(path, yaml);
    }
}
