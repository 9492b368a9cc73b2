using System.Diagnostics;
using System.Globalization;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;

namespace Tugboat.E2E.Tests.Fuzzing;

/// <summary>What one request got: the status code (0 when the connection gave no answer), the body, how long it took.</summary>
public sealed record FuzzOutcome(int Code, string Body, TimeSpan Took);

/// <summary>
/// Mutation fuzzing of real requests against a running <c>tug server</c>, one request at a time over a fresh TLS
/// connection (as the admin, so that flow control does not hide anything). A finding is any answer the server must
/// never give: a 5xx, a connection closed without an answer, no answer within the time limit, a refusal (4xx) that
/// changed what is stored, or the server gone. Findings are written beside the corpus as <c>.http</c> files to replay.
/// </summary>
public sealed class ApiFuzzer(TugServer server, int seed)
{
    private static readonly TimeSpan AnswerLimit = TimeSpan.FromSeconds(20);
    private readonly Random _random = new(seed);
    private readonly X509Certificate2 _admin = X509CertificateLoader.LoadPkcs12(
        X509Certificate2.CreateFromPemFile(Path.Combine(server.DataDir, "tls", "admin.crt"), Path.Combine(server.DataDir, "tls", "admin.key")).Export(X509ContentType.Pkcs12), null);

    public int Requests { get; private set; }
    public Dictionary<int, int> Codes { get; } = [];
    public long PeakRssBytes { get; private set; }
    public List<(string Why, FuzzRequest Request)> Findings { get; } = [];

    /// <summary>The seed corpus: every <c>.http</c> file of the folder.</summary>
    public static List<FuzzRequest> LoadCorpus(string folder) =>
        Directory.GetFiles(folder, "*.http").Order(StringComparer.Ordinal).Select(f => FuzzRequest.Parse(File.ReadAllBytes(f))).ToList();

    public async Task RunAsync(IReadOnlyList<FuzzRequest> corpus, TimeSpan duration)
    {
        var mutator = new Mutator(_random);
        var clock = Stopwatch.StartNew();
        // Each seed as it is first (the known attack shapes must be refused as they stand), then mutations of them.
        var queue = new Queue<FuzzRequest>(corpus);
        while (clock.Elapsed < duration && Findings.Count < 5)
        {
            if (Requests % 50 == 0)
            {
                await EnsureNamespaceAsync("fuzz");
                SampleMemory();
            }
            var request = queue.Count > 0 ? queue.Dequeue() : mutator.Mutate(corpus[_random.Next(corpus.Count)]);
            await RunOneAsync(request);
            if (!await AliveAsync())
            {
                Findings.Add(("the server stopped answering after this request", request));
                return;
            }
        }
        SampleMemory();
    }

    private async Task RunOneAsync(FuzzRequest request)
    {
        var before = await RevisionAsync();
        var outcome = await SendAsync(request);
        Requests++;
        Codes[outcome.Code] = Codes.GetValueOrDefault(outcome.Code) + 1;
        if (outcome.Code == 0)
        {
            Findings.Add(($"no answer ({outcome.Body}) after {outcome.Took.TotalSeconds:F1} s", request));
        }
        else if (outcome.Code >= 500)
        {
            Findings.Add(($"{outcome.Code}: {outcome.Body[..Math.Min(outcome.Body.Length, 400)]}", request));
        }
        else if (outcome.Code >= 400 && !MayRefuseInPart(request, outcome) && await RevisionAsync() != before)
        {
            Findings.Add(($"refused with {outcome.Code} but the store changed ({before} → {await RevisionAsync()}): {outcome.Body[..Math.Min(outcome.Body.Length, 200)]}", request));
        }
    }

    // A collection delete may refuse some items (a system namespace, a failed precondition) and still delete the
    // others, as upstream's does.
    private static bool MayRefuseInPart(FuzzRequest request, FuzzOutcome outcome) => request.Method == "DELETE" && outcome.Code is 403 or 409;

    /// <summary>Sends one request on its own connection and reads the answer to its end (an upgrade: its status line).</summary>
    public async Task<FuzzOutcome> SendAsync(FuzzRequest request)
    {
        var clock = Stopwatch.StartNew();
        using var cts = new CancellationTokenSource(AnswerLimit);
        try
        {
            using var tcp = new TcpClient();
            await tcp.ConnectAsync("127.0.0.1", server.Port, cts.Token);
            await using var tls = new SslStream(tcp.GetStream(), false, (_, _, _, _) => true);
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = "127.0.0.1",
                ClientCertificates = [_admin],
                ApplicationProtocols = [SslApplicationProtocol.Http11],
            }, cts.Token);
            await tls.WriteAsync(request.ToWire("127.0.0.1:" + server.Port), cts.Token);
            await tls.FlushAsync(cts.Token);
            var response = new MemoryStream();
            var buffer = new byte[64 * 1024];
            int n;
            while ((n = await tls.ReadAsync(buffer, cts.Token)) > 0)
            {
                response.Write(buffer, 0, n);
                if (request.IsUpgrade && response.Length > 12)
                {
                    break;
                }
            }
            var text = Encoding.UTF8.GetString(response.GetBuffer(), 0, (int)response.Length);
            if (!text.StartsWith("HTTP/1.1 ", StringComparison.Ordinal) || text.Length < 12)
            {
                return new FuzzOutcome(0, "connection closed without a status line", clock.Elapsed);
            }
            var bodyAt = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            var body = bodyAt < 0 ? string.Empty : text[(bodyAt + 4)..];
            if (bodyAt > 0 && text[..bodyAt].Contains("transfer-encoding: chunked", StringComparison.OrdinalIgnoreCase))
            {
                body = Dechunk(body);
            }
            return new FuzzOutcome(int.Parse(text[9..12]), body, clock.Elapsed);
        }
        catch (OperationCanceledException)
        {
            return new FuzzOutcome(0, "timed out", clock.Elapsed);
        }
        catch (Exception e) when (e is IOException or SocketException or System.Security.Authentication.AuthenticationException)
        {
            return new FuzzOutcome(0, e.GetType().Name + ": " + e.Message, clock.Elapsed);
        }
    }

    private static string Dechunk(string chunked)
    {
        var body = new StringBuilder();
        var at = 0;
        while (at < chunked.Length)
        {
            var lineEnd = chunked.IndexOf("\r\n", at, StringComparison.Ordinal);
            if (lineEnd < 0 || !int.TryParse(chunked.AsSpan(at, lineEnd - at), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var size) || size == 0)
            {
                break;
            }
            // Sizes count bytes; the bodies read here are ASCII JSON or text, where bytes and characters agree.
            body.Append(chunked, lineEnd + 2, Math.Min(size, chunked.Length - lineEnd - 2));
            at = lineEnd + 2 + size + 2;
        }
        return body.ToString();
    }

    private async Task<bool> AliveAsync()
    {
        var outcome = await SendAsync(new FuzzRequest("GET", "/readyz", [], [], []));
        return outcome.Code == 200;
    }

    /// <summary>The store's revision (a list's resourceVersion moves with every write anywhere).</summary>
    private async Task<string> RevisionAsync()
    {
        var outcome = await SendAsync(new FuzzRequest("GET", "/api/v1/namespaces", [new("limit", "1")], [], []));
        return outcome.Code == 200 ? JsonNode.Parse(outcome.Body)?["metadata"]?["resourceVersion"]?.GetValue<string>() ?? "?" : "?";
    }

    /// <summary>Mutations may delete the fuzzing namespace; without controllers it would stay Terminating, so it is finalized and made again.</summary>
    private async Task EnsureNamespaceAsync(string name)
    {
        var get = await SendAsync(new FuzzRequest("GET", "/api/v1/namespaces/" + name, [], [], []));
        if (get.Code == 200 && JsonNode.Parse(get.Body)?["status"]?["phase"]?.GetValue<string>() == "Active")
        {
            return;
        }
        if (get.Code == 200)
        {
            await SendAsync(new FuzzRequest("PUT", $"/api/v1/namespaces/{name}/finalize", [], [new("Content-Type", "application/json")],
                Encoding.UTF8.GetBytes("{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"" + name + "\"},\"spec\":{\"finalizers\":[]}}")));
        }
        await SendAsync(new FuzzRequest("POST", "/api/v1/namespaces", [], [new("Content-Type", "application/json")],
            Encoding.UTF8.GetBytes("{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"" + name + "\"}}")));
    }

    private void SampleMemory()
    {
        var status = $"/proc/{server.Pid}/status";
        if (!File.Exists(status))
        {
            return;
        }
        var line = File.ReadLines(status).FirstOrDefault(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        if (line is not null && long.TryParse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], out var kb))
        {
            PeakRssBytes = Math.Max(PeakRssBytes, kb * 1024);
        }
    }
}
