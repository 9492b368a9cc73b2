using System.Text.Json.Nodes;
using Tugboat.Network.Ingress;

namespace Tugboat.Network.Tests.Ingress;

/// <summary>Which backend a request reaches: upstream's host and path precedence, and what the nginx rendering says.</summary>
public sealed class IngressTableTests
{
    private static JsonObject Parse(string json) => JsonNode.Parse(json)!.AsObject();

    private static JsonObject Service(string name) => Parse("""{"metadata":{"namespace":"shop","name":"NAME"},"spec":{"clusterIP":"10.43.0.9","ports":[{"name":"http","port":80}]}}""".Replace("NAME", name));

    private static JsonObject Slice(string service, string ip) => Parse("""
        {"metadata":{"namespace":"shop","name":"SVC-x","labels":{"kubernetes.io/service-name":"SVC"}},
         "endpoints":[{"addresses":["IP"],"conditions":{"ready":true}}],"ports":[{"name":"http","port":8080}]}
        """.Replace("SVC", service).Replace("IP", ip));

    private static string Path(string path, string type, string service) =>
        """{"path":"PATH","pathType":"TYPE","backend":{"service":{"name":"SVC","port":{"name":"http"}}}}""".Replace("PATH", path).Replace("TYPE", type).Replace("SVC", service);

    private static readonly IngressTable Table = IngressTable.Build(
        [
            Parse("""
                {"metadata":{"namespace":"shop","name":"main","creationTimestamp":"2026-01-01T00:00:00Z"},
                 "spec":{"defaultBackend":{"service":{"name":"fallback","port":{"number":80}}},
                  "rules":[{"host":"shop.test","http":{"paths":[P1,P2,P3,P4,P5]}},
                           {"host":"*.shop.test","http":{"paths":[P6]}},
                           {"http":{"paths":[P7]}}]}}
                """.Replace("P1", Path("/", "Prefix", "web")).Replace("P2", Path("/api", "Prefix", "api")).Replace("P3", Path("/api/v2/", "Prefix", "v2"))
                .Replace("P4", Path("/api", "Exact", "exact")).Replace("P5", Path("/docs", "ImplementationSpecific", "docs")).Replace("P6", Path("/", "Prefix", "wild"))
                .Replace("P7", Path("/status", "Exact", "api"))),
            // A later Ingress cannot take a path the first one has.
            Parse("""
                {"metadata":{"namespace":"shop","name":"late","creationTimestamp":"2026-02-01T00:00:00Z"},
                 "spec":{"rules":[{"host":"shop.test","http":{"paths":[P1,P2]}}]}}
                """.Replace("P1", Path("/api", "Prefix", "web")).Replace("P2", Path("/gone", "Prefix", "nothere"))),
        ],
        [Service("web"), Service("api"), Service("v2"), Service("exact"), Service("docs"), Service("wild"),
            Parse("""{"metadata":{"namespace":"shop","name":"fallback"},"spec":{"clusterIP":"10.43.0.8","ports":[{"port":80}]}}""")],
        [Slice("web", "10.42.0.2"), Slice("api", "10.42.0.3"), Slice("v2", "10.42.0.4"), Slice("exact", "10.42.0.5"), Slice("wild", "10.42.0.6")],
        []);

    [Theory]
    [InlineData("shop.test", "/", "web")]
    [InlineData("shop.test", "/index.html", "web")]
    [InlineData("shop.test", "/api", "exact")]
    [InlineData("shop.test", "/api/", "api")]
    [InlineData("shop.test", "/api/v1/items", "api")]
    [InlineData("shop.test", "/apis", "web")]
    [InlineData("shop.test", "/api/v2", "v2")]
    [InlineData("shop.test", "/api/v2/x", "v2")]
    [InlineData("shop.test", "/api/v20", "api")]
    [InlineData("shop.test", "/docs/a", "docs")]
    [InlineData("SHOP.test:8443", "/api/x", "api")]
    [InlineData("www.shop.test", "/anything", "wild")]
    [InlineData("a.b.shop.test", "/anything", "fallback")]
    [InlineData("other.test", "/status", "api")]
    [InlineData("other.test", "/status/x", "fallback")]
    [InlineData("shop.test", "/gone", "nothere")]
    public void LongestPathWinsExactBeforePrefixAndHostsAreMatchedExactlyThenByWildcard(string host, string path, string service)
    {
        Assert.Equal(service, Table.Match(host, path)?.Service);
    }

    [Fact]
    public void MissingServicesAndEmptyBackendsAreExplainedAndOtherRoutesKeepWorking()
    {
        Assert.Contains(Table.Problems, p => p.Ingress == "shop/late" && p.Reason == "ServiceNotFound" && p.Message == "service \"shop/nothere\" not found");
        var docs = Table.Match("shop.test", "/docs")!;
        Assert.Empty(docs.Endpoints);
        Assert.Equal("no ready endpoints for service \"shop/docs\"", docs.Error);
        Assert.Equal(["10.42.0.3:8080"], Table.Match("shop.test", "/api/x")!.Endpoints);
    }

    [Fact]
    public void TlsComesFromValidSecretsAndMissingOrInvalidOnesAreReported()
    {
        var pem = Convert.ToBase64String("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"u8.ToArray());
        var key = Convert.ToBase64String("-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"u8.ToArray());
        var ingress = Parse("""
            {"metadata":{"namespace":"shop","name":"tls"},"spec":{"tls":[{"hosts":["a.test"],"secretName":"good"},{"hosts":["b.test"],"secretName":"gone"},{"hosts":["c.test"],"secretName":"bad"}],
             "rules":[{"host":"a.test","http":{"paths":[P1]}}]}}
            """.Replace("P1", Path("/", "Prefix", "web")));
        var good = Parse("""{"metadata":{"namespace":"shop","name":"good"},"type":"kubernetes.io/tls","data":{"tls.crt":"CRT","tls.key":"KEY"}}""".Replace("CRT", pem).Replace("KEY", key));
        var bad = Parse("""{"metadata":{"namespace":"shop","name":"bad"},"type":"kubernetes.io/tls","data":{"tls.crt":"bm90IHBlbQ==","tls.key":"bm90IHBlbQ=="}}""");
        var table = IngressTable.Build([ingress], [Service("web")], [Slice("web", "10.42.0.2")], [good, bad]);
        Assert.Equal("shop/good", table.Hosts.Single(h => h.Host == "a.test").TlsSecret);
        Assert.True(table.Certificates.ContainsKey("shop/good"));
        Assert.Contains(table.Problems, p => p.Reason == "MissingSecret" && p.Message.StartsWith("TLS secret \"gone\" not found in namespace \"shop\"", StringComparison.Ordinal));
        Assert.Contains(table.Problems, p => p.Reason == "InvalidSecret" && p.Message.Contains("c.test", StringComparison.Ordinal));
        Assert.Equal("web", table.Match("a.test", "/")!.Service);
    }

    [Fact]
    public void NginxLocationsFollowThePrecedence()
    {
        var config = new NginxConfig { StateDir = "/run/x", Addresses = ["127.0.0.1"], HttpPort = 8080, HttpsPort = 8443, DefaultCertificate = ("/run/x/d.crt", "/run/x/d.key") }.Render(Table);
        var server = config[config.IndexOf("server_name shop.test;", StringComparison.Ordinal)..];
        Assert.True(server.IndexOf("\"^/api/v2(/|$)\"", StringComparison.Ordinal) < server.IndexOf("location = \"/api\"", StringComparison.Ordinal));
        Assert.True(server.IndexOf("location = \"/api\"", StringComparison.Ordinal) < server.IndexOf("\"^/api(/|$)\"", StringComparison.Ordinal));
        Assert.Contains("return 503 \"503 Service Unavailable: no ready endpoints for service \\\"shop/docs\\\"\\n\";", config, StringComparison.Ordinal);
        Assert.Contains("server_name \"~^[^.]+\\.shop\\.test$\";", config, StringComparison.Ordinal);
        Assert.Contains("listen 127.0.0.1:8443 ssl http2 default_server;", config, StringComparison.Ordinal);
        Assert.Contains("proxy_buffering off;", config, StringComparison.Ordinal);
        Assert.Contains("server 10.42.0.4:8080;", config, StringComparison.Ordinal);
    }

    [Fact]
    public void OnlyIngressesOfOurClassOrOfNoneWhenOursIsTheDefault()
    {
        var ours = Parse("""{"metadata":{"name":"tugboat","annotations":{"ingressclass.kubernetes.io/is-default-class":"true"}},"spec":{"controller":"tugboat.dev/ingress-nginx"}}""");
        var notDefault = Parse("""{"metadata":{"name":"tugboat"},"spec":{"controller":"tugboat.dev/ingress-nginx"}}""");
        var plain = Parse("""{"metadata":{"name":"a"},"spec":{}}""");
        var other = Parse("""{"metadata":{"name":"b"},"spec":{"ingressClassName":"traefik"}}""");
        var named = Parse("""{"metadata":{"name":"c"},"spec":{"ingressClassName":"tugboat"}}""");
        Assert.True(IngressTable.IsOurs(plain, [ours]));
        Assert.False(IngressTable.IsOurs(plain, [notDefault]));
        Assert.False(IngressTable.IsOurs(other, [ours]));
        Assert.True(IngressTable.IsOurs(named, [notDefault]));
    }
}
