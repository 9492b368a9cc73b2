using System.Diagnostics;
using System.Net;

namespace Tugboat.E2E.Tests;

/// <summary>The node's Ingress controller (nginx) routing by host and path, with TLS from a Secret, checked with curl.</summary>
public sealed class IngressTests(AgentClusterFixture fixture) : IClassFixture<AgentClusterFixture>
{
    private Kubectl K => new(Kubectl.V132, fixture.Server.Kubeconfig);

    private static async Task<(int Code, string Out, string Err)> CurlAsync(params string[] args)
    {
        var psi = new ProcessStartInfo("curl") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in (string[])["-sS", "--max-time", "10", .. args])
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi)!;
        var output = await p.StandardOutput.ReadToEndAsync();
        var error = await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        return (p.ExitCode, output, error);
    }

    private static string App(string name, string text) => $$$"""
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: {{{name}}}, namespace: ing}
        spec:
          replicas: 1
          selector: {matchLabels: {app: {{{name}}}}}
          template:
            metadata: {labels: {app: {{{name}}}}}
            spec:
              containers:
              - name: web
                image: python:3
                command: ["sh", "-c", "mkdir -p /srv/api && echo {{{text}}} > /srv/index.html && echo {{{text}}} > /srv/api/index.html && cd /srv && exec python3 -m http.server 8080"]
                ports: [{containerPort: 8080, name: http}]
                volumeMounts: [{name: srv, mountPath: /srv}]
                readinessProbe: {httpGet: {path: /, port: http}, periodSeconds: 1}
              volumes: [{name: srv, emptyDir: {}}]
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: {{{name}}}, namespace: ing}
        spec:
          selector: {app: {{{name}}}}
          ports: [{name: http, port: 80, targetPort: http}]
        ---
        """;

    /// <summary>A backend that answers GET with the request's headers, and a WebSocket upgrade with one echoed message.</summary>
    private const string EchoServer = """
        import base64, hashlib, http.server
        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'
            def do_GET(self):
                if self.headers.get('Upgrade', '').lower() == 'websocket':
                    key = self.headers['Sec-WebSocket-Key'] + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'
                    self.send_response(101)
                    self.send_header('Upgrade', 'websocket')
                    self.send_header('Connection', 'Upgrade')
                    self.send_header('Sec-WebSocket-Accept', base64.b64encode(hashlib.sha1(key.encode()).digest()).decode())
                    self.end_headers()
                    head = self.rfile.read(2)
                    mask = self.rfile.read(4)
                    data = bytes(b ^ mask[i % 4] for i, b in enumerate(self.rfile.read(head[1] & 0x7f)))
                    self.wfile.write(bytes([0x81, len(data)]) + data)
                    self.wfile.flush()
                    self.close_connection = True
                    return
                body = ''.join(f'{k.lower()}: {v}\n' for k, v in self.headers.items()).encode()
                self.send_response(200)
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)
        http.server.ThreadingHTTPServer(('', 8080), H).serve_forever()
        """;

    [Fact]
    public async Task TheBackendSeesForwardedHeadersAndWebSocketsPassThrough()
    {
        (await K.RunWithInputAsync("""
            apiVersion: v1
            kind: Namespace
            metadata: {name: ing-ws}
            ---
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: echo, namespace: ing-ws}
            data:
              echo.py: |
            """ + "\n" + string.Concat(EchoServer.Split('\n').Select(l => "    " + l + "\n")) + """
            ---
            apiVersion: v1
            kind: Pod
            metadata: {name: echo, namespace: ing-ws, labels: {app: echo}}
            spec:
              containers:
              - name: echo
                image: python:3
                command: ["python3", "/app/echo.py"]
                ports: [{containerPort: 8080}]
                volumeMounts: [{name: app, mountPath: /app}]
                readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
              volumes: [{name: app, configMap: {name: echo}}]
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: echo, namespace: ing-ws}
            spec:
              selector: {app: echo}
              ports: [{port: 80, targetPort: 8080}]
            ---
            apiVersion: networking.k8s.io/v1
            kind: Ingress
            metadata: {name: echo, namespace: ing-ws}
            spec:
              rules:
              - host: echo.test
                http:
                  paths:
                  - {path: /, pathType: Prefix, backend: {service: {name: echo, port: {number: 80}}}}
            """, "apply", "-f", "-")).Ok();
        (await K.RunAsync("wait", "--for=condition=Ready", "pod/echo", "-n", "ing-ws", "--timeout=60s")).Ok();
        var http = fixture.Server.IngressHttpPort;
        var headers = await Eventually.ForAsync(async () => await CurlAsync("-H", "Host: echo.test", $"http://127.0.0.1:{http}/hello") is { Code: 0 } r && r.Out.Contains("x-forwarded-for", StringComparison.Ordinal) ? r.Out : null, TimeSpan.FromSeconds(30));
        Assert.Contains("host: echo.test\n", headers, StringComparison.Ordinal);
        Assert.Contains("x-forwarded-for: 127.0.0.1\n", headers, StringComparison.Ordinal);
        Assert.Contains("x-forwarded-proto: http\n", headers, StringComparison.Ordinal);
        Assert.Contains("x-forwarded-host: echo.test\n", headers, StringComparison.Ordinal);
        Assert.Contains($"x-forwarded-port: {http}\n", headers, StringComparison.Ordinal);

        using var socket = new System.Net.WebSockets.ClientWebSocket();
        socket.Options.SetRequestHeader("Host", "echo.test");
        await socket.ConnectAsync(new Uri($"ws://127.0.0.1:{http}/chat"), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
        await socket.SendAsync("ahoy"u8.ToArray(), System.Net.WebSockets.WebSocketMessageType.Text, true, CancellationToken.None);
        var buffer = new byte[64];
        var received = await socket.ReceiveAsync(buffer, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("ahoy", System.Text.Encoding.UTF8.GetString(buffer, 0, received.Count));
    }

    [Fact]
    public async Task AnIngressRoutesByPathAndHostWithTlsFromASecret()
    {
        (await K.RunWithInputAsync("apiVersion: v1\nkind: Namespace\nmetadata: {name: ing}\n---\n" + App("front", "front-page") + "\n" + App("api", "api-answer") + "\n" + App("blog", "blog-page") + "\n", "apply", "-f", "-")).Ok();
        foreach (var d in new[] { "front", "api", "blog" })
        {
            (await K.RunAsync("rollout", "status", $"deployment/{d}", "-n", "ing", "--timeout=120s")).Ok();
        }
        Assert.Contains("tugboat.dev/ingress-nginx", (await K.RunAsync("get", "ingressclass", "tugboat")).Ok().Out, StringComparison.Ordinal);

        // A certificate for shop.test, as a kubernetes.io/tls Secret.
        var dir = Directory.CreateTempSubdirectory("tug-ingress-").FullName;
        using (var openssl = Process.Start("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", Path.Combine(dir, "tls.key"), "-out", Path.Combine(dir, "tls.crt"),
            "-days", "2", "-subj", "/CN=shop.test", "-addext", "subjectAltName=DNS:shop.test"])!)
        {
            await openssl.WaitForExitAsync();
            Assert.Equal(0, openssl.ExitCode);
        }
        (await K.RunAsync("create", "secret", "tls", "shop-tls", "-n", "ing", "--cert", Path.Combine(dir, "tls.crt"), "--key", Path.Combine(dir, "tls.key"))).Ok();
        (await K.RunWithInputAsync("""
            apiVersion: networking.k8s.io/v1
            kind: Ingress
            metadata: {name: shop, namespace: ing}
            spec:
              tls: [{hosts: [shop.test], secretName: shop-tls}]
              rules:
              - host: shop.test
                http:
                  paths:
                  - {path: /api, pathType: Prefix, backend: {service: {name: api, port: {name: http}}}}
                  - {path: /, pathType: Prefix, backend: {service: {name: front, port: {number: 80}}}}
                  - {path: /broken, pathType: Prefix, backend: {service: {name: missing, port: {number: 80}}}}
              - host: blog.test
                http:
                  paths:
                  - {path: /, pathType: Prefix, backend: {service: {name: blog, port: {name: http}}}}
            """, "apply", "-f", "-")).Ok();

        // No class named: the default class is filled in on create, as upstream's admission does.
        Assert.Equal("tugboat", (await K.RunAsync("get", "ingress", "shop", "-n", "ing", "-o", "jsonpath={.spec.ingressClassName}")).Ok().Out);
        var http = fixture.Server.IngressHttpPort;
        var https = fixture.Server.IngressHttpsPort;
        var api = await Eventually.ForAsync(async () => await CurlAsync("-H", "Host: shop.test", $"http://127.0.0.1:{http}/api/") is { Code: 0 } r && r.Out.Trim() == "api-answer" ? r.Out : null, TimeSpan.FromSeconds(30));
        Assert.Equal("api-answer", api.Trim());
        Assert.Equal("front-page", (await CurlAsync("-H", "Host: shop.test", $"http://127.0.0.1:{http}/")).Out.Trim());
        Assert.Equal("blog-page", (await CurlAsync("-H", "Host: blog.test", $"http://127.0.0.1:{http}/")).Out.Trim());
        var unknown = await CurlAsync("-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: nowhere.test", $"http://127.0.0.1:{http}/");
        Assert.Equal("404", unknown.Out);
        var broken = await CurlAsync("-w", "\n%{http_code}", "-H", "Host: shop.test", $"http://127.0.0.1:{http}/broken");
        Assert.EndsWith("503", broken.Out, StringComparison.Ordinal);
        Assert.Contains("service \"ing/missing\" not found", broken.Out, StringComparison.Ordinal);

        // TLS by SNI with the Secret's certificate (verified against it), over HTTP/2.
        var tls = await Eventually.ForAsync(async () => await CurlAsync("--resolve", $"shop.test:{https}:127.0.0.1", "--cacert", Path.Combine(dir, "tls.crt"), "-w", "\n%{http_version}", $"https://shop.test:{https}/api/") is { Code: 0 } r ? r.Out : null, TimeSpan.FromSeconds(30));
        Assert.Equal(["api-answer", "2"], tls.Split('\n', StringSplitOptions.RemoveEmptyEntries));

        var status = await Eventually.ForAsync(async () => (await K.RunAsync("get", "ingress", "shop", "-n", "ing", "-o", "jsonpath={.status.loadBalancer.ingress[0].ip}")).Out.Trim() is { Length: > 0 } ip ? ip : null, TimeSpan.FromSeconds(30));
        Assert.Equal("127.0.0.1", status);
        var events = await Eventually.ForAsync(async () => (await K.RunAsync("get", "events", "-n", "ing", "--field-selector", "involvedObject.kind=Ingress")).Out is var e && e.Contains("ServiceNotFound", StringComparison.Ordinal) ? e : null, TimeSpan.FromSeconds(30));
        Assert.Contains("service \"ing/missing\" not found", events, StringComparison.Ordinal);
        Directory.Delete(dir, recursive: true);
    }
}
