using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Tugboat.Client;

namespace Tugboat.Agent;

/// <summary>How an agent that has only the server URL and the node join token comes to trust the server.</summary>
public static class Join
{
    /// <summary>
    /// The client configuration for joining <paramref name="server"/> with <paramref name="token"/>. With
    /// <paramref name="caFile"/>, that CA is trusted. Otherwise the token must carry the CA's hash (k3s's
    /// <c>K10&lt;sha256&gt;::…</c> form, which <c>tug server</c> writes): the CA is fetched from /cacerts and used only
    /// if its hash matches.
    /// </summary>
    /// <exception cref="InvalidOperationException">The CA cannot be established; the message says why.</exception>
    public static async Task<ClientConfig> ResolveAsync(Uri server, string token, string? caFile, CancellationToken ct)
    {
        if (caFile is not null)
        {
            return new ClientConfig(server, X509Certificate2.CreateFromPemFile(caFile), null, token);
        }
        if (!token.StartsWith("K10", StringComparison.Ordinal) || token.IndexOf("::", StringComparison.Ordinal) != 67)
        {
            throw new InvalidOperationException("the token does not carry the cluster CA's hash (K10<sha256>::…); pass --ca-file with the cluster CA certificate");
        }
        var expected = token[3..67];
        // The CA is not known yet, so this one request cannot verify the server; the hash check below is what makes it safe.
        using var handler = new HttpClientHandler { ServerCertificateCustomValidationCallback = HttpClientHandler.DangerousAcceptAnyServerCertificateValidator };
        using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(30) };
        var pem = await http.GetStringAsync(new Uri(server, "/cacerts"), ct).ConfigureAwait(false);
        var actual = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(pem)));
        if (!CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(actual), Encoding.ASCII.GetBytes(expected)))
        {
            throw new InvalidOperationException($"the CA served by {server} does not match the hash in the token");
        }
        return new ClientConfig(server, X509Certificate2.CreateFromPem(pem), null, token);
    }
}
