using System.Diagnostics;
using System.Net;
using System.Text;

namespace Tugboat.Bench;

/// <summary>
/// Flow control: what the in-flight limits cost on the create path (a certificate user, so that every request is
/// classified and takes a seat; the admin would be exempt), and how node heartbeats fare while a user floods the server
/// with LISTs of every pod.
/// </summary>
internal static class FlowBench
{
    public static async Task RunAsync(string work, Action<string> line, bool quick)
    {
        // Creates with the limits on (upstream's defaults) and off, runs taken in turn.
        var creates = quick ? 4_000 : 20_000;
        var on = new List<double>();
        var off = new List<double>();
        var onP99 = new List<double>();
        var offP99 = new List<double>();
        for (var round = 0; round < 3; round++)
        {
            foreach (var limited in new[] { true, false })
            {
                var (rate, p99) = await CreatesAsync(Path.Combine(work, $"creates-{round}-{limited}"), limited, creates);
                (limited ? on : off).Add(rate);
                (limited ? onP99 : offP99).Add(p99);
            }
        }
        var medianOn = Stats.Median(on);
        var medianOff = Stats.Median(off);
        line($"| ConfigMap creates, 16 clients as a certificate user, limits on (400 + 200) | {medianOn:F0} /s (runs {string.Join(", ", on.Select(r => r.ToString("F0")))}), p99 {Stats.Median(onP99):F1} ms | |");
        line($"| the same, limits off (0 + 0) | {medianOff:F0} /s (runs {string.Join(", ", off.Select(r => r.ToString("F0")))}), p99 {Stats.Median(offP99):F1} ms | |");
        line($"| cost of the limits (median on / off) | {medianOn / medianOff:P1} | ≤ 2 % cost |");

        await FloodAsync(Path.Combine(work, "flood"), line, quick);
    }

    private static StringContent Json(string s) => new(s, Encoding.UTF8, "application/json");

    private static async Task<(double Rate, double P99)> CreatesAsync(string dir, bool limited, int count)
    {
        await using var server = limited
            ? new ServerProcess(dir, "--disable-controllers")
            : new ServerProcess(dir, "--disable-controllers", "--max-requests-inflight", "0", "--max-mutating-requests-inflight", "0");
        await server.StartAsync();
        using (var admin = server.Client())
        {
            (await admin.PostAsync("/api/v1/namespaces", Json("""{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"bench"}}"""))).EnsureSuccessStatusCode();
        }
        var clients = Enumerable.Range(0, 16).Select(_ => server.Client(user: "bench-user")).ToArray();
        var warm = Stopwatch.StartNew();
        await Task.WhenAll(clients.Select((c, w) => Task.Run(async () =>
        {
            for (var i = 0; warm.Elapsed < TimeSpan.FromSeconds(2); i++)
            {
                (await c.PostAsync("/api/v1/namespaces/bench/configmaps", Json("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"warm-" + w + "-" + i + "\"},\"data\":{\"key\":\"value\"}}"))).EnsureSuccessStatusCode();
            }
        })));
        var latency = new Stats();
        var next = -1;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(clients.Select(c => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < count)
            {
                var one = Stopwatch.StartNew();
                using var r = await c.PostAsync("/api/v1/namespaces/bench/configmaps", Json("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c" + i + "\"},\"data\":{\"key\":\"value\"}}"));
                if (r.StatusCode != HttpStatusCode.Created)
                {
                    throw new InvalidOperationException($"create answered {(int)r.StatusCode}");
                }
                lock (latency)
                {
                    latency.Add(one.Elapsed.TotalMilliseconds);
                }
            }
        })));
        var rate = count / clock.Elapsed.TotalSeconds;
        foreach (var c in clients)
        {
            c.Dispose();
        }
        return (rate, latency.Percentile(99));
    }

    /// <summary>
    /// 10,000 pods stored; a user runs 200 concurrent LISTs of all pods for 30 s while a node renews its Lease every
    /// 100 ms (GET and PUT, as the node) and a health check asks /readyz every 100 ms.
    /// </summary>
    private static async Task FloodAsync(string dir, Action<string> line, bool quick)
    {
        var pods = quick ? 2_000 : 10_000;
        await using var server = new ServerProcess(dir, "--disable-controllers");
        await server.StartAsync();
        using var admin = server.Client(http2: true);
        (await admin.PostAsync("/api/v1/namespaces", Json("""{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"flood"}}"""))).EnsureSuccessStatusCode();
        await Parallel.ForEachAsync(Enumerable.Range(0, pods), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, ct) =>
        {
            using var r = await admin.PostAsync("/api/v1/namespaces/flood/pods",
                Json("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p" + i + "\",\"labels\":{\"app\":\"flood\"}},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"nginx:1.25\",\"resources\":{\"requests\":{\"cpu\":\"10m\"}}}]}}"), ct);
            r.EnsureSuccessStatusCode();
        });
        using var node = server.Client(nodeToken: true);
        (await node.PostAsync("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
            Json("""{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"bench-node"},"spec":{"holderIdentity":"bench-node","leaseDurationSeconds":40}}"""))).EnsureSuccessStatusCode();
        var baseline = await RenewalsAsync(node, TimeSpan.FromSeconds(5));

        var duration = TimeSpan.FromSeconds(quick ? 10 : 30);
        using var stop = new CancellationTokenSource(duration);
        var codes = new System.Collections.Concurrent.ConcurrentDictionary<int, int>();
        var flooders = Enumerable.Range(0, 200).Select(_ => server.Client(user: "flooder")).ToArray();
        long peakRss = 0;
        var sampler = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                peakRss = Math.Max(peakRss, server.ResidentBytes());
                await Task.Delay(100);
            }
        });
        var flood = flooders.Select(c => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    using var r = await c.GetAsync("/api/v1/pods", HttpCompletionOption.ResponseContentRead, stop.Token);
                    codes.AddOrUpdate((int)r.StatusCode, 1, (_, n) => n + 1);
                }
                catch (OperationCanceledException)
                {
                }
            }
        })).ToList();
        var health = new Stats();
        var healthTask = Task.Run(async () =>
        {
            using var probe = server.Client(user: "prober");
            while (!stop.IsCancellationRequested)
            {
                var one = Stopwatch.StartNew();
                using var r = await probe.GetAsync("/readyz");
                health.Add(one.Elapsed.TotalMilliseconds);
                await Task.Delay(100);
            }
        });
        var during = await RenewalsAsync(node, duration - TimeSpan.FromSeconds(1));
        await Task.WhenAll(flood);
        await healthTask;
        await sampler;
        foreach (var c in flooders)
        {
            c.Dispose();
        }
        line($"| Lease renewals (GET + PUT as a node) with no load, {pods:N0} pods stored | p50 {baseline.Percentile(50):F1} ms, p99 {baseline.Percentile(99):F1} ms | |");
        line($"| the same during 200 concurrent LISTs of every pod by a user ({duration.TotalSeconds:F0} s) | p50 {during.Percentile(50):F1} ms, p99 {during.Percentile(99):F1} ms, {during.Count} renewals, none failed | heartbeats unaffected |");
        line($"| /readyz during the flood | p50 {health.Percentile(50):F1} ms, max {health.Percentile(100):F1} ms | answers within 1 s |");
        line($"| the flood's answers | {string.Join(", ", codes.OrderBy(c => c.Key).Select(c => $"{c.Key}×{c.Value}"))} | 429 with Retry-After once saturated |");
        line($"| server peak RSS during the flood | {peakRss / (1024 * 1024)} MB | bounded |");
    }

    private static async Task<Stats> RenewalsAsync(HttpClient node, TimeSpan duration)
    {
        var stats = new Stats();
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < duration)
        {
            var one = Stopwatch.StartNew();
            var lease = System.Text.Json.Nodes.JsonNode.Parse(await node.GetStringAsync("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/bench-node"))!;
            lease["spec"]!["renewTime"] = DateTime.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'");
            using var put = await node.PutAsync("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/bench-node", Json(lease.ToJsonString()));
            if (put.StatusCode != HttpStatusCode.OK)
            {
                throw new InvalidOperationException($"a Lease renewal answered {(int)put.StatusCode}");
            }
            stats.Add(one.Elapsed.TotalMilliseconds);
            await Task.Delay(100);
        }
        return stats;
    }
}
