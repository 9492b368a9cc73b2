// Tugboat benchmarks. Run:  dotnet run -c Release --project bench/Tugboat.Bench [-- --quick] [-- --scale] [-- --pods] [-- --services [--userspace] [--kept-alive]] [-- --flow]
// Prints a markdown report (the figures in docs/benchmarks.md come from it). Targets are reported, never asserted.
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using Tugboat.Bench;
using Tugboat.Storage;

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
var quick = args.Contains("--quick");
var createCount = quick ? 5_000 : 40_000;
var podCount = quick ? 2_000 : 10_000;
const int Clients = 16;
var work = Directory.CreateTempSubdirectory("tugboat-bench-").FullName;
var report = new StringBuilder();
void Line(string s)
{
    Console.WriteLine(s);
    report.AppendLine(s);
}

try
{
    if (args.Contains("--pods") || args.Contains("--scale") || args.Contains("--services") || args.Contains("--flow"))
    {
        Line($"Tugboat {(args.Contains("--pods") ? "node agent" : args.Contains("--services") ? (args.Contains("--userspace") ? "service networking (userspace proxy)" : "service networking") : args.Contains("--flow") ? "flow control" : "scale")} benchmarks — {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, .NET {Environment.Version}, {(quick ? "quick" : "full")} run");
        Line(string.Empty);
        Line("| figure | result | target / baseline |");
        Line("|---|---|---|");
        await (args.Contains("--pods") ? PodBench.RunAsync(work, Line, quick)
            : args.Contains("--flow") ? FlowBench.RunAsync(work, Line, quick)
            : args.Contains("--services") ? ServiceBench.RunAsync(work, Line, quick, args.Contains("--userspace"), args.Contains("--kept-alive"))
            : ScaleBench.RunAsync(work, Line, quick));
        return;
    }
    Line($"Tugboat benchmarks — {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, .NET {Environment.Version}, {(quick ? "quick" : "full")} run");
    Line(string.Empty);

    // Start-up: a fresh data directory (certificates generated) and a restart over existing data.
    var fresh = new List<double>();
    var restart = new List<double>();
    for (var i = 0; i < 3; i++)
    {
        var dir = Path.Combine(work, "startup" + i);
        await using (var s = new ServerProcess(dir))
        {
            fresh.Add((await s.StartAsync()).TotalMilliseconds);
            await s.StopAsync();
        }
        await using (var s = new ServerProcess(dir))
        {
            restart.Add((await s.StartAsync()).TotalMilliseconds);
            await s.StopAsync();
        }
    }

    await using var server = new ServerProcess(Path.Combine(work, "main"));
    await server.StartAsync();
    await Task.Delay(TimeSpan.FromSeconds(5));
    var idleRss = server.ResidentBytes();
    var clients = Enumerable.Range(0, Clients).Select(_ => server.Client()).ToArray();
    await clients[0].PostAsync("/api/v1/namespaces", Content("{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"bench\"}}"));

    // Warm-up (JIT, connections) for a few seconds, then steady-state creates: 16 clients, each its own HTTPS
    // connection, ConfigMaps with a little data.
    var warm = Stopwatch.StartNew();
    await Task.WhenAll(clients.Select((c, w) => Task.Run(async () =>
    {
        for (var i = 0; warm.Elapsed < TimeSpan.FromSeconds(3); i++)
        {
            using var r = await c.PostAsync("/api/v1/namespaces/bench/configmaps", Content($"{{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{{\"name\":\"warm-{w}-{i}\"}},\"data\":{{\"key\":\"value\"}}}}"));
            r.EnsureSuccessStatusCode();
        }
    })));
    var createLatency = new Stats();
    var next = -1;
    var sw = Stopwatch.StartNew();
    await Task.WhenAll(clients.Select(c => Task.Run(async () =>
    {
        int i;
        while ((i = Interlocked.Increment(ref next)) < createCount)
        {
            var t = Stopwatch.GetTimestamp();
            using var r = await c.PostAsync("/api/v1/namespaces/bench/configmaps", Content($"{{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{{\"name\":\"cm-{i}\",\"labels\":{{\"app\":\"bench\"}}}},\"data\":{{\"key\":\"value-{i}\",\"other\":\"some configuration text\"}}}}"));
            if (r.StatusCode != HttpStatusCode.Created)
            {
                throw new InvalidOperationException($"create failed: {r.StatusCode} {await r.Content.ReadAsStringAsync()}");
            }
            createLatency.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
        }
    })));
    var createRate = createCount / sw.Elapsed.TotalSeconds;

    // GETs of random existing objects.
    var getLatency = new Stats();
    var getDeadline = Stopwatch.StartNew();
    var gets = 0;
    await Task.WhenAll(clients.Select(c => Task.Run(async () =>
    {
        var rnd = new Random();
        while (getDeadline.Elapsed < TimeSpan.FromSeconds(quick ? 3 : 10))
        {
            var t = Stopwatch.GetTimestamp();
            using var r = await c.GetAsync($"/api/v1/namespaces/bench/configmaps/cm-{rnd.Next(createCount)}");
            r.EnsureSuccessStatusCode();
            await r.Content.ReadAsByteArrayAsync();
            getLatency.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
            Interlocked.Increment(ref gets);
        }
    })));
    var getRate = gets / getDeadline.Elapsed.TotalSeconds;

    // LIST of many pods.
    await clients[0].PostAsync("/api/v1/namespaces", Content("{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"pods\"}}"));
    // The pods are bound to these nodes (registered as records; nothing runs): pods of unknown nodes would be collected.
    for (var n = 0; n < 50; n++)
    {
        using var r = await clients[0].PostAsync("/api/v1/nodes", Content($"{{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{{\"name\":\"node-{n}\"}}}}"));
        r.EnsureSuccessStatusCode();
    }
    next = -1;
    await Task.WhenAll(clients.Select(c => Task.Run(async () =>
    {
        int i;
        while ((i = Interlocked.Increment(ref next)) < podCount)
        {
            using var r = await c.PostAsync("/api/v1/namespaces/pods/pods", Content(PodJson(i)));
            r.EnsureSuccessStatusCode();
        }
    })));
    var listJson = new List<double>();
    var listTable = new List<double>();
    long listBytes = 0;
    for (var i = 0; i < 5; i++)
    {
        var t = Stopwatch.GetTimestamp();
        var bytes = await clients[0].GetByteArrayAsync("/api/v1/namespaces/pods/pods");
        listJson.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
        listBytes = bytes.Length;
        using var tableRequest = new HttpRequestMessage(HttpMethod.Get, "/api/v1/namespaces/pods/pods");
        tableRequest.Headers.TryAddWithoutValidation("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json");
        t = Stopwatch.GetTimestamp();
        using var tr = await clients[0].SendAsync(tableRequest);
        await tr.Content.ReadAsByteArrayAsync();
        listTable.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
    }

    // Watch delivery: 100 watchers on one collection; latency from just before the create is sent to each delivery.
    var Watchers = args.SkipWhile(a => a != "--watchers").Skip(1).Select(int.Parse).FirstOrDefault(100);
    var watchEvents = quick ? 200 : 1_000;
    var watchLatency = new Stats();
    var sent = new System.Collections.Concurrent.ConcurrentDictionary<string, long>();
    await clients[0].PostAsync("/api/v1/namespaces", Content("{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"watch\"}}"));
    var rv = JsonNode.Parse(await clients[0].GetStringAsync("/api/v1/namespaces/watch/configmaps"))!["metadata"]!["resourceVersion"]!.GetValue<string>();
    // Each watcher is its own HTTPS connection by default; --watch-http2 multiplexes 25 watches per HTTP/2 connection.
    var http2 = args.Contains("--watch-http2");
    var watchClients = Enumerable.Range(0, http2 ? 4 : Watchers).Select(_ => server.Client(http2)).ToArray();
    var received = 0;
    var allReceived = new TaskCompletionSource();
    using var stopWatches = new CancellationTokenSource();
    var watchTasks = Enumerable.Range(0, Watchers).Select(w => Task.Run(async () =>
    {
        var c = watchClients[w % watchClients.Length];
        using var req = new HttpRequestMessage(HttpMethod.Get, $"/api/v1/namespaces/watch/configmaps?watch=1&resourceVersion={rv}");
        using var resp = await c.SendAsync(req, HttpCompletionOption.ResponseHeadersRead, stopWatches.Token);
        using var reader = new StreamReader(await resp.Content.ReadAsStreamAsync(stopWatches.Token));
        var count = 0;
        while (count < watchEvents && await reader.ReadLineAsync(stopWatches.Token) is { } line)
        {
            var now = Stopwatch.GetTimestamp();
            var name = JsonNode.Parse(line)!["object"]!["metadata"]!["name"]!.GetValue<string>();
            if (sent.TryGetValue(name, out var start))
            {
                watchLatency.Add(Stopwatch.GetElapsedTime(start, now).TotalMilliseconds);
            }
            count++;
            if (Interlocked.Increment(ref received) == Watchers * watchEvents)
            {
                allReceived.TrySetResult();
            }
        }
    })).ToArray();
    await Task.Delay(1000);
    for (var i = 0; i < watchEvents; i++)
    {
        var name = $"w-{i}";
        sent[name] = Stopwatch.GetTimestamp();
        using var r = await clients[i % Clients].PostAsync("/api/v1/namespaces/watch/configmaps", Content($"{{\"metadata\":{{\"name\":\"{name}\"}},\"data\":{{\"k\":\"v\"}}}}"));
        r.EnsureSuccessStatusCode();
        await Task.Delay(5);
    }
    await allReceived.Task.WaitAsync(TimeSpan.FromMinutes(2));
    stopWatches.Cancel();
    var busyRss = server.ResidentBytes();
    await server.StopAsync();

    // Patch paths on a 30-container Deployment: plain update (PUT of the whole object), strategic merge patch of one
    // container's env, and server-side apply of the whole configuration with that env changed. One Deployment per
    // client; controllers off so that only the writes are measured.
    var patchResults = new List<(string Name, double Rate, Stats Latency)>();
    await using (var patchServer = new ServerProcess(Path.Combine(work, "patch"), "--disable-controllers"))
    {
        await patchServer.StartAsync();
        var patchClients = Enumerable.Range(0, Clients).Select(_ => patchServer.Client()).ToArray();
        for (var c = 0; c < Clients; c++)
        {
            using var r = await patchClients[c].PostAsync("/apis/apps/v1/namespaces/default/deployments", Content(WideDeployment($"wide-{c}", "0")));
            r.EnsureSuccessStatusCode();
        }
        var modes = new (string Name, Func<HttpClient, int, int, HttpRequestMessage> Request)[]
        {
            ("plain update (PUT)", (client, c, i) => new HttpRequestMessage(HttpMethod.Put, $"/apis/apps/v1/namespaces/default/deployments/wide-{c}") { Content = Content(WideDeployment($"wide-{c}", "u" + i)) }),
            ("strategic merge patch", (client, c, i) => new HttpRequestMessage(HttpMethod.Patch, $"/apis/apps/v1/namespaces/default/deployments/wide-{c}")
            {
                Content = new StringContent($"{{\"spec\":{{\"template\":{{\"spec\":{{\"containers\":[{{\"name\":\"c15\",\"env\":[{{\"name\":\"VERSION\",\"value\":\"s{i}\"}}]}}]}}}}}}}}", Encoding.UTF8, "application/strategic-merge-patch+json"),
            }),
            ("server-side apply", (client, c, i) => new HttpRequestMessage(HttpMethod.Patch, $"/apis/apps/v1/namespaces/default/deployments/wide-{c}?fieldManager=bench&force=true")
            {
                Content = new StringContent(WideDeployment($"wide-{c}", "a" + i), Encoding.UTF8, "application/apply-patch+yaml"),
            }),
        };
        foreach (var (name, request) in modes)
        {
            var latency = new Stats();
            var ops = 0;
            var deadline = Stopwatch.StartNew();
            await Task.WhenAll(patchClients.Select((client, c) => Task.Run(async () =>
            {
                for (var i = 0; deadline.Elapsed < TimeSpan.FromSeconds(quick ? 3 : 10); i++)
                {
                    using var req = request(client, c, i);
                    var t = Stopwatch.GetTimestamp();
                    using var r = await client.SendAsync(req);
                    if (!r.IsSuccessStatusCode)
                    {
                        throw new InvalidOperationException($"{name} failed: {r.StatusCode} {await r.Content.ReadAsStringAsync()}");
                    }
                    await r.Content.ReadAsByteArrayAsync();
                    latency.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
                    Interlocked.Increment(ref ops);
                }
            })));
            patchResults.Add((name, ops / deadline.Elapsed.TotalSeconds, latency));
        }
        await patchServer.StopAsync();
    }

    // The ceiling: raw SQLite on the same disk, same durability (WAL, synchronous=FULL), same row shape.
    var (rawPerRow, rawBatched) = RawSqlite(Path.Combine(work, "raw.db"), quick ? 2_000 : 5_000, createCount);
    var storeRate = await StoreDirect(Path.Combine(work, "store.db"), createCount);

    Line("| figure | result | target / baseline |");
    Line("|---|---|---|");
    Line($"| time to ready, fresh data dir (median of 3) | {Stats.Median(fresh):F0} ms | < 1 s; k3s: tens of seconds |");
    Line($"| time to ready, restart (median of 3) | {Stats.Median(restart):F0} ms | < 1 s |");
    Line($"| idle resident memory | {idleRss / 1048576.0:F0} MB | < 100 MB; k3s documents ~1.4 GB |");
    Line($"| resident memory after the run ({createCount + podCount + watchEvents:N0} objects) | {busyRss / 1048576.0:F0} MB | |");
    Line($"| ConfigMap creates, {Clients} HTTPS clients | {createRate:F0} /s, p50 {createLatency.Percentile(50):F1} ms, p99 {createLatency.Percentile(99):F1} ms | ≥ 5,000 /s, p99 ≤ 25 ms |");
    Line($"| GETs, {Clients} HTTPS clients | {getRate:F0} /s, p50 {getLatency.Percentile(50):F1} ms, p99 {getLatency.Percentile(99):F1} ms | |");
    Line($"| LIST {podCount:N0} pods, JSON ({listBytes / 1048576.0:F1} MB, median of 5) | {Stats.Median(listJson):F0} ms | ≤ 300 ms |");
    Line($"| LIST {podCount:N0} pods, server-side Table (median of 5) | {Stats.Median(listTable):F0} ms | |");
    Line($"| watch delivery, {Watchers} watchers × {watchEvents} events ({(http2 ? "HTTP/2, 25 per connection" : "one connection each")}) | p50 {watchLatency.Percentile(50):F1} ms, p99 {watchLatency.Percentile(99):F1} ms | p99 ≤ 50 ms |");
    foreach (var (name, rate, latency) in patchResults)
    {
        Line($"| 30-container Deployment, {name}, {Clients} clients | {rate:F0} /s, p50 {latency.Percentile(50):F1} ms, p99 {latency.Percentile(99):F1} ms | beside plain update |");
    }
    Line($"| store alone (SqliteStore, {Clients} writers, group commit) | {storeRate:F0} creates/s | |");
    Line($"| raw SQLite, one durable commit per row | {rawPerRow:F0} rows/s | ceiling for unbatched writes |");
    Line($"| raw SQLite, 1,000 rows per commit | {rawBatched:F0} rows/s | ceiling for batched writes |");
    Line(string.Empty);
    Line($"Ratios in this run: API creates / raw per-row SQLite = {createRate / rawPerRow:F1}×; API creates / store alone = {createRate / storeRate:P0}; store alone / raw batched SQLite = {storeRate / rawBatched:P0}.");
}
finally
{
    try
    {
        Directory.Delete(work, recursive: true);
    }
    catch (IOException)
    {
    }
}

static StringContent Content(string json) => new(json, Encoding.UTF8, "application/json");

static string PodJson(int i) =>
    "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"pod-" + i + "\",\"labels\":{\"app\":\"bench\",\"shard\":\"s" + (i % 10) + "\"}},"
    + "\"spec\":{\"nodeName\":\"node-" + (i % 50) + "\",\"containers\":[{\"name\":\"app\",\"image\":\"registry.example/app:1." + (i % 7) + "\",\"args\":[\"--port=8080\",\"--verbose\"],"
    + "\"ports\":[{\"containerPort\":8080,\"name\":\"http\"}],\"env\":[{\"name\":\"MODE\",\"value\":\"bench\"}],"
    + "\"resources\":{\"requests\":{\"cpu\":\"100m\",\"memory\":\"64Mi\"},\"limits\":{\"cpu\":\"500m\",\"memory\":\"128Mi\"}},"
    + "\"readinessProbe\":{\"httpGet\":{\"path\":\"/healthz\",\"port\":8080}}}]}}";

// A Deployment with 30 containers, each with ports, env, resources and a probe; one env value varies.
static string WideDeployment(string name, string version)
{
    var containers = string.Join(",", Enumerable.Range(0, 30).Select(c =>
        $"{{\"name\":\"c{c}\",\"image\":\"registry.example/app-{c}:1.0\",\"args\":[\"--port={8000 + c}\"],\"ports\":[{{\"containerPort\":{8000 + c},\"name\":\"p{c}\"}}],"
        + $"\"env\":[{{\"name\":\"MODE\",\"value\":\"bench\"}},{{\"name\":\"VERSION\",\"value\":\"{(c == 15 ? version : "1")}\"}}],"
        + "\"resources\":{\"requests\":{\"cpu\":\"10m\",\"memory\":\"16Mi\"}},"
        + $"\"readinessProbe\":{{\"httpGet\":{{\"path\":\"/healthz\",\"port\":{8000 + c}}}}}}}"));
    return $"{{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{{\"name\":\"{name}\",\"labels\":{{\"app\":\"{name}\"}}}},"
        + $"\"spec\":{{\"replicas\":0,\"selector\":{{\"matchLabels\":{{\"app\":\"{name}\"}}}},\"template\":{{\"metadata\":{{\"labels\":{{\"app\":\"{name}\"}}}},\"spec\":{{\"containers\":[{containers}]}}}}}}}}";
}

static (double PerRow, double Batched) RawSqlite(string path, int perRowCount, int batchedCount)
{
    SQLitePCL.Batteries_V2.Init();
    using var conn = new SqliteConnection($"Data Source={path}");
    conn.Open();
    using (var setup = conn.CreateCommand())
    {
        setup.CommandText = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE kv (id INTEGER PRIMARY KEY, name TEXT NOT NULL, deleted INTEGER NOT NULL, create_revision INTEGER NOT NULL, prev_revision INTEGER NOT NULL, value BLOB); CREATE INDEX kv_name_id ON kv (name, id);";
        setup.ExecuteNonQuery();
    }
    var value = Encoding.UTF8.GetBytes(new string('x', 300));
    using var insert = conn.CreateCommand();
    insert.CommandText = "INSERT INTO kv (name, deleted, create_revision, prev_revision, value) VALUES ($n, 0, 0, 0, $v)";
    var n = insert.Parameters.Add("$n", SqliteType.Text);
    insert.Parameters.AddWithValue("$v", value);
    var sw = Stopwatch.StartNew();
    for (var i = 0; i < perRowCount; i++)
    {
        using var tx = conn.BeginTransaction();
        insert.Transaction = tx;
        n.Value = "/registry/configmaps/raw/a" + i;
        insert.ExecuteNonQuery();
        tx.Commit();
    }
    var perRow = perRowCount / sw.Elapsed.TotalSeconds;
    sw.Restart();
    for (var i = 0; i < batchedCount;)
    {
        using var tx = conn.BeginTransaction();
        insert.Transaction = tx;
        for (var j = 0; j < 1000 && i < batchedCount; j++, i++)
        {
            n.Value = "/registry/configmaps/raw/b" + i;
            insert.ExecuteNonQuery();
        }
        tx.Commit();
    }
    return (perRow, batchedCount / sw.Elapsed.TotalSeconds);
}

static async Task<double> StoreDirect(string path, int count)
{
    await using var store = SqliteStore.Open(path);
    var value = Encoding.UTF8.GetBytes(new string('x', 300));
    var next = -1;
    var sw = Stopwatch.StartNew();
    await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Task.Run(async () =>
    {
        int i;
        while ((i = Interlocked.Increment(ref next)) < count)
        {
            await store.CreateAsync("/registry/configmaps/direct/c" + i, value);
        }
    })));
    return count / sw.Elapsed.TotalSeconds;
}
