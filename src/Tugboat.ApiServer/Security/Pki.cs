using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Tugboat.ApiServer.Security;

/// <summary>
/// The cluster's certificates under <c>DATA/tls</c>: a self-generated CA, the API server's serving certificate, and the
/// admin client certificate (CN=system:admin, O=system:masters) that goes into the kubeconfig. Created on first start,
/// reused afterwards (the serving certificate is re-issued when its names change).
/// </summary>
public sealed class Pki
{
    private Pki(X509Certificate2 ca, X509Certificate2 server, string adminCertPem, string adminKeyPem, string caPem)
    {
        Ca = ca;
        Server = server;
        AdminCertificatePem = adminCertPem;
        AdminKeyPem = adminKeyPem;
        CaPem = caPem;
    }

    public X509Certificate2 Ca { get; }
    public X509Certificate2 Server { get; }
    public string CaPem { get; }
    public string AdminCertificatePem { get; }
    public string AdminKeyPem { get; }

    public static Pki LoadOrCreate(string dataDir, IReadOnlyCollection<string> dnsNames, IReadOnlyCollection<IPAddress> ips)
    {
        var dir = Path.Combine(dataDir, "tls");
        Directory.CreateDirectory(dir);
        string P(string f) => Path.Combine(dir, f);
        if (!File.Exists(P("ca.crt")) || !File.Exists(P("ca.key")))
        {
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var req = new CertificateRequest($"CN=tugboat-ca@{DateTimeOffset.UtcNow.ToUnixTimeSeconds()}", key, HashAlgorithmName.SHA256);
            req.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
            req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign | X509KeyUsageFlags.DigitalSignature, true));
            req.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(req.PublicKey, false));
            using var ca = req.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddYears(10));
            PrivateFile.Write(P("ca.key"), key.ExportECPrivateKeyPem());
            File.WriteAllText(P("ca.crt"), ca.ExportCertificatePem());
            File.Delete(P("server.crt"));
            File.Delete(P("admin.crt"));
        }
        var caCert = X509Certificate2.CreateFromPemFile(P("ca.crt"), P("ca.key"));
        var sanKey = string.Join(",", dnsNames.Order()) + ";" + string.Join(",", ips.Select(i => i.ToString()).Order());
        if (!File.Exists(P("server.crt")) || !File.Exists(P("server.key")) || !File.Exists(P("server.names")) || File.ReadAllText(P("server.names")) != sanKey)
        {
            var san = new SubjectAlternativeNameBuilder();
            foreach (var d in dnsNames)
            {
                san.AddDnsName(d);
            }
            foreach (var ip in ips)
            {
                san.AddIpAddress(ip);
            }
            Issue(caCert, "CN=kube-apiserver", san.Build(), new OidCollection { new Oid("1.3.6.1.5.5.7.3.1") }, P("server.crt"), P("server.key"), TimeSpan.FromDays(365));
            File.WriteAllText(P("server.names"), sanKey);
        }
        if (!File.Exists(P("admin.crt")) || !File.Exists(P("admin.key")))
        {
            Issue(caCert, "CN=system:admin, O=system:masters", null, new OidCollection { new Oid("1.3.6.1.5.5.7.3.2") }, P("admin.crt"), P("admin.key"), TimeSpan.FromDays(365));
        }
        var server = X509Certificate2.CreateFromPemFile(P("server.crt"), P("server.key"));
        return new Pki(caCert, server, File.ReadAllText(P("admin.crt")), File.ReadAllText(P("admin.key")), File.ReadAllText(P("ca.crt")));
    }

    private static void Issue(X509Certificate2 ca, string subject, X509Extension? san, OidCollection usages, string certPath, string keyPath, TimeSpan validity)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var req = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        req.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(usages, false));
        req.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
        if (san is not null)
        {
            req.CertificateExtensions.Add(san);
        }
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7f;
        using var cert = req.Create(ca, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.Add(validity), serial);
        PrivateFile.Write(keyPath, key.ExportECPrivateKeyPem());
        File.WriteAllText(certPath, cert.ExportCertificatePem());
    }

    /// <summary>Whether a client certificate was issued by this cluster's CA for client authentication.</summary>
    public bool VerifyClient(X509Certificate2 certificate)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(Ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid("1.3.6.1.5.5.7.3.2"));
        return chain.Build(certificate);
    }
}
