using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;

namespace Tugboat.Bench;

/// <summary>
/// Node agent figures (<c>--pods</c>): pod startup latency — from the create request to the first watch event showing
/// every container running — for 20 and 100 pods created at once on one real node, against upstream's SLO (p99 ≤ 5 s),
/// for the process runtime (the baseline) and for containerd through the CRI (runc; an image already present); and the
/// node's resident memory with 20 pods running (the agent, plus containerd and its shims), against the 50 MiB
/// upstream's kubelet density test allows. The agent runs as its own <c>tug agent</c> process.
/// </summary>
internal static class PodBench
{
    public static async Task RunAsync(string work, Action<string> line, bool quick)
    {
        var containerd = File.Exists("/usr/bin/containerd") && Environment.UserName == "root";
        foreach (var (pods, rounds) in new[] { (20, quick ? 1 : 3), (100, 1) })
        {
            await RunVariantAsync(work, line, "process", pods, rounds);
            if (containerd)
            {
                await RunVariantAsync(work, line, "containerd", pods, rounds);
            }
        }
        if (!containerd)
        {
            line("| containerd runtime | not measured: needs root and Debian's containerd | |");
        }
    }

    private static async Task RunVariantAsync(string work, Action<string> line, string runtime, int pods, int rounds)
    {
        var tag = $"{runtime}-{pods}";
        await using var server = new ServerProcess(Path.Combine(work, "pods-" + tag));
        await server.StartAsync();
        var token = (await File.ReadAllTextAsync(Path.Combine(server.DataDir, "token"))).Trim();
        var agentDir = Path.Combine(work, "pods-agent-" + tag);
        var image = "busybox";
        if (runtime == "containerd")
        {
            // The image is imported offline before the agent starts: startup is measured with the image present.
            image = "docker.io/library/busybox:1.35";
            Directory.CreateDirectory(Path.Combine(agentDir, "images"));
            using var build = Process.Start("python3", [Path.Combine(RepoRoot(), "examples", "images", "busybox-image.py"), Path.Combine(agentDir, "images", "busybox.tar"), image])!;
            await build.WaitForExitAsync();
        }
        using var agent = StartAgent(server, token, agentDir, "--runtime", runtime);
        var admin = server.Client();
        try
        {
            await WaitAsync(async () => await admin.GetAsync("/api/v1/nodes/bench-node") is { IsSuccessStatusCode: true } r
                && (await r.Content.ReadFromJsonAsync<JsonObject>())?["status"]?["conditions"]?.AsArray()
                    .Any(c => c?["type"]?.GetValue<string>() == "Ready" && c["status"]?.GetValue<string>() == "True") == true, TimeSpan.FromSeconds(60));
            var idleRss = NodeResidentBytes(agent.Id, agentDir);
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
                await Task.WhenAll(Enumerable.Range(0, pods).Select(async i =>
                {
                    var name = $"pod-{i}";
                    created[name] = Stopwatch.GetTimestamp();
                    var response = await admin.PostAsync($"/api/v1/namespaces/{ns}/pods", Json("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"" + name + "\"},"
                        + "\"spec\":{\"terminationGracePeriodSeconds\":1,\"containers\":[{\"name\":\"app\",\"image\":\"" + image + "\",\"imagePullPolicy\":\"IfNotPresent\",\"command\":[\"sh\",\"-c\",\"echo up; exec sleep 3600\"],"
                        + "\"resources\":{\"requests\":{\"cpu\":\"10m\",\"memory\":\"16Mi\"},\"limits\":{\"memory\":\"64Mi\"}}}]}}"));
                    response.EnsureSuccessStatusCode();
                }));
                await WaitAsync(() => Task.FromResult(running.Count == pods), TimeSpan.FromMinutes(4));
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
                busyRss = Math.Max(busyRss, NodeResidentBytes(agent.Id, agentDir));
                await admin.DeleteAsync($"/api/v1/namespaces/{ns}");
                await WaitAsync(async () => (await admin.GetFromJsonAsync<JsonObject>("/api/v1/pods?fieldSelector=spec.nodeName%3Dbench-node"))!["items"]!.AsArray().Count == 0, TimeSpan.FromMinutes(4));
            }
            latencies.Sort();
            double Percentile(double p) => latencies[Math.Min(latencies.Count - 1, (int)Math.Ceiling(p * latencies.Count) - 1)];
            var who = runtime == "containerd" ? "containerd (runc), image present" : "process runtime";
            line($"| pod startup latency, {pods} pods created at once on one node, {who} ({rounds} round{(rounds > 1 ? "s" : string.Empty)}) | p50 {Percentile(0.5):F0} ms, p99 {Percentile(0.99):F0} ms | upstream SLO: p99 ≤ 5 s; goal p99 ≤ 2 s for 20 |");
            if (pods == 20)
            {
                var whose = runtime == "containerd" ? "agent + containerd + shims" : "agent";
                line($"| node resident memory ({whose}): idle / with {pods} pods running, {who} | {idleRss / 1048576.0:F0} MB / {busyRss / 1048576.0:F0} MB | upstream kubelet density test: ≤ 50 MiB (kubelet alone); k3s documents its agent at ~275 MB |");
            }
        }
        finally
        {
            agent.Kill();
            await agent.WaitForExitAsync();
            using var killall = Process.Start("dotnet", [Path.Combine(AppContext.BaseDirectory, "tug.dll"), "killall", "--data-dir", agentDir]);
            await killall.WaitForExitAsync();
        }
    }

    private static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Tugboat.sln")))
        {
            dir = dir.Parent;
        }
        return dir?.FullName ?? throw new InvalidOperationException("the repository root (Tugboat.sln) was not found above " + AppContext.BaseDirectory);
    }

    /// <summary>The agent's resident memory, plus its containerd's and the shims' when it runs one.</summary>
    private static long NodeResidentBytes(int agentPid, string agentDir)
    {
        var total = ResidentBytes(agentPid);
        var socket = Path.Combine(agentDir, "containerd", "containerd.sock");
        var config = Path.Combine(agentDir, "containerd", "config.toml");
        foreach (var dir in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }
            try
            {
                var cmdline = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
                if (cmdline.Contains(config, StringComparison.Ordinal) || (cmdline.Contains("containerd-shim", StringComparison.Ordinal) && cmdline.Contains(socket, StringComparison.Ordinal)))
                {
                    total += ResidentBytes(pid);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
            {
            }
        }
        return total;
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
