using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Tugboat.Bench;

/// <summary>
/// Service networking figures (<c>--services</c>): HTTP requests/s and p99 latency (wrk, 32 connections, one
/// thread) to one nginx pod directly at its pod IP, through its Service's cluster IP, through its node port on
/// 127.0.0.1 and through the node's Ingress controller (nginx, kept-alive connections to the pod); with kept-alive
/// client connections and with a new connection per request (where the proxy's NAT set-up shows). The rounds
/// alternate between the paths so that the machine's noise falls on all of them (wrk's latency excludes connecting,
/// which the requests/s of the new-connection runs include). Then cluster DNS queries/s (dnsperf) for service names.
/// Needs root, the CNI plugins, nftables, nginx-light, wrk and dnsperf (Debian packages).
/// </summary>
internal static partial class ServiceBench
{
    private const string NginxConfig = """
        worker_processes 1;
        daemon off;
        pid /work/nginx.pid;
        error_log stderr warn;
        events { worker_connections 1024; }
        http {
          access_log off;
          client_body_temp_path /work/body;
          proxy_temp_path /work/proxy;
          fastcgi_temp_path /work/fastcgi;
          uwsgi_temp_path /work/uwsgi;
          scgi_temp_path /work/scgi;
          server {
            listen 8080;
            location / { return 200 "hello from nginx\n"; }
          }
        }
        """;

    /// <param name="userspace">Proxy with the userspace fallback instead of nftables (kept-alive runs and DNS only).</param>
    /// <param name="keptAliveOnly">Leave out the new-connection runs (which wait for TIME_WAIT to expire between paths).</param>
    public static async Task RunAsync(string work, Action<string> line, bool quick, bool userspace, bool keptAliveOnly = false)
    {
        var rounds = quick ? 1 : 3;
        var seconds = quick ? 5 : 10;
        await using var server = new ServerProcess(Path.Combine(work, "services"));
        await server.StartAsync();
        var token = (await File.ReadAllTextAsync(Path.Combine(server.DataDir, "token"))).Trim();
        var agentDir = Path.Combine(work, "services-agent");
        var ingressPort = ServerProcess.FreePort();
        using var agent = PodBench.StartAgent(server, token, agentDir, "--runtime", "process", "--ingress-http-port", ingressPort.ToString(CultureInfo.InvariantCulture), "--ingress-https-port", "0", "--proxy-mode", userspace ? "userspace" : "nftables");
        var admin = server.Client();
        try
        {
            await PodBench.WaitAsync(async () => await admin.GetAsync("/api/v1/nodes/bench-node") is { IsSuccessStatusCode: true } r
                && (await r.Content.ReadFromJsonAsync<JsonObject>())?["status"]?["conditions"]?.AsArray()
                    .Any(c => c?["type"]?.GetValue<string>() == "Ready" && c["status"]?.GetValue<string>() == "True") == true, TimeSpan.FromSeconds(60));
            var config = new JsonObject
            {
                ["apiVersion"] = "v1",
                ["kind"] = "ConfigMap",
                ["metadata"] = new JsonObject { ["name"] = "nginx" },
                ["data"] = new JsonObject { ["nginx.conf"] = NginxConfig },
            };
            (await admin.PostAsync("/api/v1/namespaces/default/configmaps", Json(config.ToJsonString()))).EnsureSuccessStatusCode();
            (await admin.PostAsync("/apis/apps/v1/namespaces/default/deployments", Json("""
                {"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":1,"selector":{"matchLabels":{"app":"web"}},
                 "template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"nginx","image":"nginx","command":["nginx","-c","/config/nginx.conf"],
                  "ports":[{"containerPort":8080,"name":"http"}],"readinessProbe":{"tcpSocket":{"port":8080},"periodSeconds":1},
                  "volumeMounts":[{"name":"config","mountPath":"/config"},{"name":"work","mountPath":"/work"}]}],
                  "volumes":[{"name":"config","configMap":{"name":"nginx"}},{"name":"work","emptyDir":{}}]}}}}
                """))).EnsureSuccessStatusCode();
            (await admin.PostAsync("/api/v1/namespaces/default/services", Json("""
                {"apiVersion":"v1","kind":"Service","metadata":{"name":"web"},"spec":{"type":"NodePort","selector":{"app":"web"},"ports":[{"name":"http","port":80,"targetPort":"http"}]}}
                """))).EnsureSuccessStatusCode();
            (await admin.PostAsync("/apis/networking.k8s.io/v1/namespaces/default/ingresses", Json("""
                {"apiVersion":"networking.k8s.io/v1","kind":"Ingress","metadata":{"name":"web"},"spec":{"rules":[{"host":"bench.test","http":{"paths":[
                  {"path":"/","pathType":"Prefix","backend":{"service":{"name":"web","port":{"name":"http"}}}}]}}]}}
                """))).EnsureSuccessStatusCode();
            // A client pod: the usual client of a cluster IP is another pod, whose connections are rewritten before
            // routing (the node's own connections are rewritten after it and routed again, packet by packet).
            (await admin.PostAsync("/api/v1/namespaces/default/pods", Json("""
                {"apiVersion":"v1","kind":"Pod","metadata":{"name":"client"},"spec":{"terminationGracePeriodSeconds":1,"containers":[{"name":"c","image":"busybox","command":["sleep","3600"]}]}}
                """))).EnsureSuccessStatusCode();
            string? podIp = null;
            string? backendNetns = null;
            await PodBench.WaitAsync(async () =>
            {
                var pods = (await admin.GetFromJsonAsync<JsonObject>("/api/v1/namespaces/default/pods?labelSelector=app%3Dweb"))!["items"]!.AsArray();
                backendNetns = pods.Select(p => "tug-" + p!["metadata"]!["uid"]!.GetValue<string>()).FirstOrDefault();
                var slices = (await admin.GetFromJsonAsync<JsonObject>("/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dweb"))!["items"]!.AsArray();
                podIp = slices.SelectMany(s => s!["endpoints"]?.AsArray() ?? []).Where(e => e?["conditions"]?["ready"]?.GetValue<bool>() == true)
                    .Select(e => e!["addresses"]![0]!.GetValue<string>()).FirstOrDefault();
                return podIp is not null;
            }, TimeSpan.FromMinutes(2));
            var svc = (await admin.GetFromJsonAsync<JsonObject>("/api/v1/namespaces/default/services/web"))!;
            var clusterIp = svc["spec"]!["clusterIP"]!.GetValue<string>();
            var nodePort = svc["spec"]!["ports"]![0]!["nodePort"]!.GetValue<long>();
            string? clientNetns = null;
            await PodBench.WaitAsync(async () =>
            {
                var client = (await admin.GetFromJsonAsync<JsonObject>("/api/v1/namespaces/default/pods/client"))!;
                clientNetns = client["status"]?["podIP"] is not null ? "tug-" + client["metadata"]!["uid"]!.GetValue<string>() : null;
                return clientNetns is not null;
            }, TimeSpan.FromMinutes(1));
            // Each group's first path is its baseline.
            var targets = new (string Name, string Url, string Target, string? Netns)[]
            {
                ("from the node, direct to the pod IP", $"http://{podIp}:8080/", string.Empty, null),
                ("from the node, through the ClusterIP", $"http://{clusterIp}/", "≥ 80%", null),
                ("from the node, through the NodePort on 127.0.0.1", $"http://127.0.0.1:{nodePort}/", "≥ 80%", null),
                ("from the node, through the Ingress (nginx) on 127.0.0.1", $"http://127.0.0.1:{ingressPort}/", "≥ 50%", null),
                ("from a pod, direct to the pod IP", $"http://{podIp}:8080/", string.Empty, clientNetns),
                ("from a pod, through the ClusterIP", $"http://{clusterIp}/", "≥ 80%", clientNetns),
            };
            // The proxy's rules follow the slice within milliseconds; make sure every path answers before measuring.
            await PodBench.WaitAsync(async () =>
            {
                using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
                foreach (var (_, url, _, netns) in targets.Where(t => t.Netns is null))
                {
                    try
                    {
                        using var request = new HttpRequestMessage(HttpMethod.Get, url);
                        request.Headers.Host = "bench.test";
                        (await http.SendAsync(request)).EnsureSuccessStatusCode();
                    }
                    catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                    {
                        return false;
                    }
                }
                return true;
            }, TimeSpan.FromSeconds(30));

            foreach (var keepAlive in userspace || keptAliveOnly ? [true] : new[] { true, false })
            {
                // With a new connection per request the pod (which closes first) keeps every connection in TIME_WAIT
                // for 60 s, and conntrack keeps it for 120 s. Two paths from one client address reach the pod from the
                // same address, but the client picks its ports per destination, so a run soon after another path's run
                // reuses those tuples and waits on SYN retransmits — whichever path comes second. So each such run
                // starts once the previous run's entries have expired everywhere, and it is one round per path.
                var pathRounds = keepAlive ? rounds : 1;
                var results = targets.ToDictionary(t => t.Name, _ => new List<(double Rps, double P99)>());
                for (var round = 0; round < pathRounds; round++)
                {
                    foreach (var (name, url, _, netns) in targets)
                    {
                        if (!keepAlive)
                        {
                            await Task.Delay(TimeSpan.FromSeconds(125));
                            await PodBench.WaitAsync(async () => await TimeWaitAsync(backendNetns!) < 50, TimeSpan.FromMinutes(3));
                        }
                        results[name].Add(await WrkAsync(url, seconds, keepAlive, netns));
                    }
                }
                foreach (var (name, _, target, netns) in targets)
                {
                    var baseline = targets.First(t => t.Netns == netns).Name;
                    var direct = Stats.Median(results[baseline].Select(r => r.Rps).ToList());
                    var rps = Stats.Median(results[name].Select(r => r.Rps).ToList());
                    var p99 = Stats.Median(results[name].Select(r => r.P99).ToList());
                    var ratio = name == baseline ? "baseline" : $"{rps / direct:P0} of direct (target {target})";
                    line($"| HTTP {(keepAlive ? "kept-alive connections" : "new connection per request")}, {name} ({(pathRounds > 1 ? $"median of {pathRounds} × " : string.Empty)}{seconds} s) | {rps:N0} req/s, p99 {p99:F2} ms | {ratio} |");
                }
            }

            var dnsIp = "10.43.0.10";
            var queries = Path.Combine(work, "queries.txt");
            await File.WriteAllLinesAsync(queries, ["web.default.svc.cluster.local A", "kubernetes.default.svc.cluster.local A", "_http._tcp.web.default.svc.cluster.local SRV", "nothing.default.svc.cluster.local A"]);
            var qps = new List<double>();
            for (var round = 0; round < rounds; round++)
            {
                qps.Add(await DnsPerfAsync(dnsIp, queries, seconds));
            }
            line($"| cluster DNS, dnsperf (10 clients, 4 names of the cluster domain, median of {rounds} × {seconds} s) | {Stats.Median(qps):N0} queries/s | target ≥ 20,000 q/s |");
        }
        finally
        {
            agent.Kill();
            await agent.WaitForExitAsync();
            using var killall = Process.Start("dotnet", [Path.Combine(AppContext.BaseDirectory, "tug.dll"), "killall", "--data-dir", agentDir]);
            await killall.WaitForExitAsync();
        }
    }

    /// <summary>TCP connections in TIME_WAIT in a pod's network namespace.</summary>
    private static async Task<int> TimeWaitAsync(string netns) =>
        (await RunAsync("ip", ["netns", "exec", netns, "ss", "-Htan", "state", "time-wait"])).Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;

    /// <summary>wrk's requests/s and 99th percentile latency (ms) for one URL.</summary>
    private static async Task<(double Rps, double P99)> WrkAsync(string url, int seconds, bool keepAlive, string? netns)
    {
        // The Host header selects the Ingress rule and is harmless elsewhere.
        var args = new List<string> { "-t1", "-c32", $"-d{seconds}s", "--latency", "-H", "Host: bench.test" };
        if (netns is not null)
        {
            // wrk in the client pod's network namespace.
            args.InsertRange(0, ["netns", "exec", netns, "wrk"]);
        }
        if (!keepAlive)
        {
            args.AddRange(["-H", "Connection: close"]);
        }
        args.Add(url);
        var output = await RunAsync(netns is null ? "wrk" : "ip", args);
        var rps = double.Parse(RequestsPerSecond().Match(output).Groups[1].Value, CultureInfo.InvariantCulture);
        var p99 = P99().Match(output);
        var value = double.Parse(p99.Groups[1].Value, CultureInfo.InvariantCulture);
        var ms = p99.Groups[2].Value switch { "us" => value / 1000, "s" => value * 1000, _ => value };
        return (rps, ms);
    }

    private static async Task<double> DnsPerfAsync(string server, string queries, int seconds)
    {
        var output = await RunAsync("dnsperf", ["-s", server, "-d", queries, "-l", seconds.ToString(CultureInfo.InvariantCulture), "-c", "10", "-q", "200"]);
        return double.Parse(QueriesPerSecond().Match(output).Groups[1].Value, CultureInfo.InvariantCulture);
    }

    private static async Task<string> RunAsync(string file, IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"{file} is required (Debian package {file})");
        var output = await p.StandardOutput.ReadToEndAsync();
        var error = await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        return p.ExitCode == 0 ? output : throw new InvalidOperationException($"{file} failed: {error}{output}");
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    [GeneratedRegex(@"Requests/sec:\s+([\d.]+)")]
    private static partial Regex RequestsPerSecond();

    [GeneratedRegex(@"99%\s+([\d.]+)(us|ms|s)")]
    private static partial Regex P99();

    [GeneratedRegex(@"Queries per second:\s+([\d.]+)")]
    private static partial Regex QueriesPerSecond();
}
