using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;

namespace Tugboat.Bench;

/// <summary>
/// Node agent figures (<c>--pods</c>): pod startup latency — from the create request to the first watch event showing
/// every container running — for 20 pods created at once on one real node (process runtime, CNI network namespaces
/// when root), against upstream's SLO (p99 ≤ 5 s); and the agent's resident memory with those 20 pods running, against
/// the 50 MiB upstream's kubelet density test allows. The agent runs as its own <c>tug agent</c> process.
/// </summary>
internal static class PodBench
{
    public static async Task RunAsync(string work, Action<string> line, bool quick)
    {
        const int Pods = 20;
        var rounds = quick ? 1 : 3;
        await using var server = new ServerProcess(Path.Combine(work, "pods"));
        await server.StartAsync();
        var token = (await File.ReadAllTextAsync(Path.Combine(server.DataDir, "token"))).Trim();
        var agentDir = Path.Combine(work, "pods-agent");
        using var agent = StartAgent(server, token, agentDir);
        var admin = server.Client();
        try
        {
            await WaitAsync(async () => await admin.GetAsync("/api/v1/nodes/bench-node") is { IsSuccessStatusCode: true } r
                && (await r.Content.ReadFromJsonAsync<JsonObject>())?["status"]?["conditions"]?.AsArray()
                    .Any(c => c?["type"]?.GetValue<string>() == "Ready" && c["status"]?.GetValue<string>() == "True") == true, TimeSpan.FromSeconds(60));
            var idleRss = ResidentBytes(agent.Id);
            var latencies = new List<double>();
            long busyRss = 0;
            for (var round = 0; round < rounds; round++)
            {
                var ns = "pods" + round;
                await admin.PostAsync("/api/v1/namespaces", Json("{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"" + ns + "\"}}"));
                var created = new ConcurrentDictionary<string, long>();
                var running = new ConcurrentDictionary<string, long>();
                using var stop = new CancellationTokenSource();
                var rv = (await admin.GetFromJsonAsync<JsonObject>($"/api/v1/namespaces/{ns}/pods"))!["metadata"]!["resourceVersion"]!.GetValue<string>();
                var watcher = Task.Run(async () =>
                {
                    using var client = server.Client();
                    using var response = await client.SendAsync(new HttpRequestMessage(HttpMethod.Get, $"/api/v1/namespaces/{ns}/pods?watch=1&resourceVersion={rv}"), HttpCompletionOption.ResponseHeadersRead, stop.Token);
                    using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(stop.Token));
                    while (await reader.ReadLineAsync(stop.Token) is { } l)
                    {
                        var pod = JsonNode.Parse(l)!["object"]!;
                        var statuses = pod["status"]?["containerStatuses"]?.AsArray();
                        if (statuses is { Count: > 0 } && statuses.All(s => s?["state"]?["running"] is not null))
                        {
                            running.TryAdd(pod["metadata"]!["name"]!.GetValue<string>(), Stopwatch.GetTimestamp());
                        }
                    }
                });
                await Task.Delay(200);
                await Task.WhenAll(Enumerable.Range(0, Pods).Select(async i =>
                {
                    var name = $"pod-{i}";
                    created[name] = Stopwatch.GetTimestamp();
                    var response = await admin.PostAsync($"/api/v1/namespaces/{ns}/pods", Json("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"" + name + "\"},"
                        + "\"spec\":{\"terminationGracePeriodSeconds\":1,\"containers\":[{\"name\":\"app\",\"image\":\"busybox\",\"command\":[\"sh\",\"-c\",\"echo up; exec sleep 3600\"],"
                        + "\"resources\":{\"requests\":{\"cpu\":\"10m\",\"memory\":\"16Mi\"},\"limits\":{\"memory\":\"64Mi\"}}}]}}"));
                    response.EnsureSuccessStatusCode();
                }));
                await WaitAsync(() => Task.FromResult(running.Count == Pods), TimeSpan.FromMinutes(2));
                await stop.CancelAsync();
                try
                {
                    await watcher;
                }
                catch (OperationCanceledException)
                {
                }
                latencies.AddRange(created.Select(c => Stopwatch.GetElapsedTime(c.Value, running[c.Key]).TotalMilliseconds));
                await Task.Delay(3000);
                busyRss = Math.Max(busyRss, ResidentBytes(agent.Id));
                await admin.DeleteAsync($"/api/v1/namespaces/{ns}");
                await WaitAsync(async () => (await admin.GetFromJsonAsync<JsonObject>("/api/v1/pods?fieldSelector=spec.nodeName%3Dbench-node"))!["items"]!.AsArray().Count == 0, TimeSpan.FromMinutes(2));
            }
            latencies.Sort();
            double Percentile(double p) => latencies[Math.Min(latencies.Count - 1, (int)Math.Ceiling(p * latencies.Count) - 1)];
            line($"| pod startup latency, {Pods} pods created at once on one node ({rounds} round{(rounds > 1 ? "s" : string.Empty)}) | p50 {Percentile(0.5):F0} ms, p99 {Percentile(0.99):F0} ms | upstream SLO: p99 ≤ 5 s |");
            line($"| node agent resident memory: idle / with {Pods} pods running | {idleRss / 1048576.0:F0} MB / {busyRss / 1048576.0:F0} MB | upstream kubelet density test: ≤ 50 MiB |");
        }
        finally
        {
            agent.Kill();
            await agent.WaitForExitAsync();
            using var killall = Process.Start("dotnet", [Path.Combine(AppContext.BaseDirectory, "tug.dll"), "killall", "--data-dir", agentDir]);
            await killall.WaitForExitAsync();
        }
    }

    internal static async Task WaitAsync(Func<Task<bool>> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("the benchmark's condition was not reached");
            }
            await Task.Delay(50);
        }
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    internal static Process StartAgent(ServerProcess server, string token, string dataDir, params string[] extraArgs)
    {
        var port = ServerProcess.FreePort();
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "tug.dll"), "agent", "--server", $"https://127.0.0.1:{server.Port}", "--token", token,
            "--data-dir", dataDir, "--node-name", "bench-node", "--node-ip", "127.0.0.1", "--kubelet-port", port.ToString() }.Concat(extraArgs))
        {
            psi.ArgumentList.Add(a);
        }
        var p = Process.Start(psi)!;
        p.OutputDataReceived += (_, _) => { };
        p.ErrorDataReceived += (_, _) => { };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return p;
    }

    private static long ResidentBytes(int pid) =>
        File.ReadLines($"/proc/{pid}/status").Where(l => l.StartsWith("VmRSS:", StringComparison.Ordinal))
            .Select(l => long.Parse(l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024).First();
}
