using System.Globalization;
using System.Text;
using Xunit.Abstractions;

namespace Tugboat.E2E.Tests.Fuzzing;

/// <summary>
/// The API fuzzer's short run, part of every test run: one minute (TUGBOAT_FUZZ_SECONDS) of the corpus and its
/// mutations against a server holding 10,000 objects, in a 1 GiB memory cgroup where the machine allows one. The seed
/// is fixed (TUGBOAT_FUZZ_SEED overrides it), so a run repeats the inputs of earlier runs; the long run before a
/// release uses other seeds and more time (docs/robustness.md).
/// </summary>
public sealed class FuzzTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const long MemoryLimit = 1L << 30;
    private readonly TugServer _server = new(disableControllers: true);
    private string? _cgroup;

    public async Task InitializeAsync()
    {
        await _server.StartAsync();
        _cgroup = MemoryCgroup.TryConfine(_server.Pid, MemoryLimit, "tugboat-fuzz-" + _server.Port);
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        MemoryCgroup.Remove(_cgroup);
    }

    private static int Setting(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : fallback;

    [Fact]
    public async Task TheCorpusAndItsMutationsNeverGetA5xxACrashOrAChangeFromARefusal()
    {
        using (var admin = _server.AdminClient())
        {
            (await admin.PostAsync("/api/v1/namespaces", new StringContent("""{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"bulk"}}""", Encoding.UTF8, "application/json"))).EnsureSuccessStatusCode();
            await Parallel.ForEachAsync(Enumerable.Range(0, 10_000), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, ct) =>
            {
                using var created = await admin.PostAsync("/api/v1/namespaces/bulk/configmaps",
                    new StringContent("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"bulk-" + i + "\",\"labels\":{\"n\":\"" + (i % 10) + "\"}},\"data\":{\"k\":\"" + new string('v', 200) + "\"}}", Encoding.UTF8, "application/json"), ct);
                created.EnsureSuccessStatusCode();
            });
        }
        var seed = Setting("TUGBOAT_FUZZ_SEED", 20261207);
        var duration = TimeSpan.FromSeconds(Setting("TUGBOAT_FUZZ_SECONDS", 60));
        var corpus = ApiFuzzer.LoadCorpus(Path.Combine(AppContext.BaseDirectory, "Fuzzing", "Corpus"));
        var fuzzer = new ApiFuzzer(_server, seed);
        await fuzzer.RunAsync(corpus, duration);

        output.WriteLine($"seed {seed}, {fuzzer.Requests} requests in {duration.TotalSeconds} s, answers {string.Join(", ", fuzzer.Codes.OrderBy(c => c.Key).Select(c => $"{c.Key}×{c.Value}"))}, peak RSS {fuzzer.PeakRssBytes / (1024 * 1024)} MB, cgroup {(_cgroup ?? "none")}");
        if (fuzzer.Findings.Count > 0)
        {
            var folder = Directory.CreateTempSubdirectory("tugboat-fuzz-findings-").FullName;
            var report = new StringBuilder($"seed {seed}: {fuzzer.Findings.Count} finding(s), inputs in {folder}\n");
            for (var i = 0; i < fuzzer.Findings.Count; i++)
            {
                var (why, request) = fuzzer.Findings[i];
                await File.WriteAllBytesAsync(Path.Combine(folder, $"finding-{i}.http"), request.ToFile());
                report.Append($"- {why}\n  {request.Method} {request.Target[..Math.Min(request.Target.Length, 300)]}\n");
            }
            Assert.Fail(report.ToString());
        }
        Assert.True(fuzzer.Requests > corpus.Count, "the fuzzer ran no mutations");
        Assert.True(fuzzer.PeakRssBytes < MemoryLimit, $"peak RSS {fuzzer.PeakRssBytes} bytes");
    }
}

/// <summary>Puts a process in a memory cgroup of its own (cgroup v2, else v1's memory controller), where the machine allows it.</summary>
internal static class MemoryCgroup
{
    public static string? TryConfine(int pid, long limitBytes, string name)
    {
        try
        {
            string dir;
            if (File.Exists("/sys/fs/cgroup/cgroup.controllers"))
            {
                dir = Path.Combine("/sys/fs/cgroup", name);
                Directory.CreateDirectory(dir);
                File.WriteAllText(Path.Combine(dir, "memory.max"), limitBytes.ToString(CultureInfo.InvariantCulture));
            }
            else if (Directory.Exists("/sys/fs/cgroup/memory"))
            {
                dir = Path.Combine("/sys/fs/cgroup/memory", name);
                Directory.CreateDirectory(dir);
                File.WriteAllText(Path.Combine(dir, "memory.limit_in_bytes"), limitBytes.ToString(CultureInfo.InvariantCulture));
            }
            else
            {
                return null;
            }
            File.WriteAllText(Path.Combine(dir, "cgroup.procs"), pid.ToString(CultureInfo.InvariantCulture));
            return dir;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    public static void Remove(string? dir)
    {
        if (dir is null)
        {
            return;
        }
        for (var attempt = 0; attempt < 20; attempt++)
        {
            try
            {
                Directory.Delete(dir);
                return;
            }
            catch (IOException)
            {
                Thread.Sleep(100);
            }
        }
    }
}
