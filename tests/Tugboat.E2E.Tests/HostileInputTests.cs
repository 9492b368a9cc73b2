using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace Tugboat.E2E.Tests;

/// <summary>
/// Requests an attacker with a valid certificate could send: each gets upstream's 4xx at once, the server stays up and
/// its memory bounded, and nothing stored changes.
/// </summary>
public sealed class HostileInputTests(ApiOnlyServerFixture fixture) : IClassFixture<ApiOnlyServerFixture>
{
    private async Task<(HttpStatusCode Code, JsonNode? Body, TimeSpan Took)> SendAsync(HttpMethod method, string path, HttpContent? content = null)
    {
        using var client = fixture.Server.AdminClient();
        var clock = Stopwatch.StartNew();
        using var response = await client.SendAsync(new HttpRequestMessage(method, path) { Content = content });
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text, documentOptions: new System.Text.Json.JsonDocumentOptions { MaxDepth = 1100 }), clock.Elapsed);
    }

    private static string Message(JsonNode? status) => status?["message"]?.GetValue<string>() ?? string.Empty;

    private async Task<string> RevisionAsync() =>
        (await SendAsync(HttpMethod.Get, "/api/v1/namespaces?limit=1")).Body!["metadata"]!["resourceVersion"]!.GetValue<string>();

    [Theory]
    [InlineData("/api/v1/pods?watch=1&resourceVersion=abc", "invalid resource version: resourceVersion: Invalid value: \"abc\": strconv.ParseUint: parsing \"abc\": invalid syntax")]
    [InlineData("/api/v1/namespaces/default/configmaps?resourceVersion=-1", "invalid resource version: resourceVersion: Invalid value: \"-1\": strconv.ParseUint: parsing \"-1\": invalid syntax")]
    [InlineData("/api/v1/pods?resourceVersion=99999999999999999999999", "invalid resource version: resourceVersion: Invalid value: \"99999999999999999999999\": strconv.ParseUint: parsing \"99999999999999999999999\": value out of range")]
    [InlineData("/api/v1/pods?fieldSelector=spec.nodeName%3D%3D%3Dx", "invalid field selector: unescaped character in value: 61")]
    [InlineData("/api/v1/pods?watch=1&fieldSelector=spec.nodeName", "invalid selector: 'spec.nodeName'; can't understand 'spec.nodeName'")]
    [InlineData("/api/v1/pods?limit=-5", "limit: Invalid value: \"-5\": must be a non-negative integer")]
    public async Task MalformedListAndWatchParametersAreBadRequests(string path, string message)
    {
        var (code, body, _) = await SendAsync(HttpMethod.Get, path);
        Assert.Equal(HttpStatusCode.BadRequest, code);
        Assert.Equal(message, Message(body));
    }

    private static StringContent Body(string text, string type) => new(text, Encoding.UTF8, type);

    private static string BillionLaughs()
    {
        var yaml = new StringBuilder("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lol}\ndata:\n  a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
        var previous = "a";
        foreach (var name in "bcdefghi")
        {
            yaml.Append("  ").Append(name).Append(": &").Append(name).Append(" [").Append(string.Join(",", Enumerable.Repeat("*" + previous, 9))).Append("]\n");
            previous = name.ToString();
        }
        return yaml.ToString();
    }

    private static string Nested(int depth, string leaf) => string.Concat(Enumerable.Repeat("{\"a\":", depth)) + leaf + new string('}', depth);

    [Fact]
    public async Task HostileBodiesAreRefusedAndChangeNothing()
    {
        const string path = "/api/v1/namespaces/default/configmaps";
        Assert.Equal(HttpStatusCode.Created, (await SendAsync(HttpMethod.Post, path, Body("""{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"target"},"data":{"a":"b"}}""", "application/json"))).Code);
        var revision = await RevisionAsync();
        var cases = new (string Name, HttpMethod Method, string Path, HttpContent Content, HttpStatusCode Code, string Message)[]
        {
            ("100,000 nested [ in YAML", HttpMethod.Post, path, Body(new string('[', 100_000), "application/yaml"), HttpStatusCode.BadRequest,
                "the object provided is unrecognized (must be of type ConfigMap): error converting YAML to JSON: yaml: exceeded max depth of 990 (5b5b5b5b"),
            ("billion laughs", HttpMethod.Post, path, Body(BillionLaughs(), "application/yaml"), HttpStatusCode.BadRequest,
                "the object provided is unrecognized (must be of type ConfigMap): error converting YAML to JSON: yaml: document contains excessive aliasing ("),
            ("billion laughs as an apply patch", HttpMethod.Patch, path + "/lol?fieldManager=x", Body(BillionLaughs(), "application/apply-patch+yaml"), HttpStatusCode.BadRequest,
                "error converting YAML to JSON: yaml: document contains excessive aliasing"),
            ("100,000 nested [ in JSON", HttpMethod.Post, path, Body(new string('[', 100_000), "application/json"), HttpStatusCode.BadRequest,
                "the object provided is unrecognized (must be of type ConfigMap): couldn't get version/kind; json parse error: The maximum configured depth of 990 has been exceeded. Cannot read next JSON array. LineNumber: 0 | BytePositionInLine: 990. (5b5b5b"),
            ("20,000 JSON patch operations", HttpMethod.Patch, path + "/target",
                Body("[" + string.Join(",", Enumerable.Range(0, 20_000).Select(i => $$"""{"op":"add","path":"/data/k{{i}}","value":"v"}""")) + "]", "application/json-patch+json"),
                HttpStatusCode.RequestEntityTooLarge, "Request entity too large: The allowed maximum operations in a JSON patch is 10000, got 20000"),
            ("JSON patch copies doubling a value", HttpMethod.Patch, path + "/target",
                Body("""[{"op":"add","path":"/grow","value":{"x":"0123456789012345678901234567890123456789"}},""" + string.Join(",", Enumerable.Range(0, 9_000).Select(i => $$"""{"op":"copy","from":"/grow","path":"/grow/c{{i}}"}""")) + "]", "application/json-patch+json"),
                (HttpStatusCode)422, "Unable to complete the copy, the accumulated size increase of copy is "),
            ("JSON patch operation that is not a string", HttpMethod.Patch, path + "/target", Body("""[{"op":7,"path":"/data/a"}]""", "application/json-patch+json"), (HttpStatusCode)422,
                "Unexpected kind: unknown"),
        };
        foreach (var c in cases)
        {
            var (code, body, _) = await SendAsync(c.Method, c.Path, c.Content);
            Assert.True(c.Code == code, $"{c.Name}: {(int)code} {body?.ToJsonString()}");
            Assert.Equal("Status", body?["kind"]?.GetValue<string>());
            Assert.StartsWith(c.Message, Message(body), StringComparison.Ordinal);
        }

        // Bytes that are not UTF-8 are refused, not stored with replacement characters.
        foreach (var type in new[] { "application/json", "application/yaml" })
        {
            var content = new ByteArrayContent([.. Encoding.UTF8.GetBytes("""{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"utf"},"data":{"a":" """), 0xff, 0xfe, .. "\"}}"u8.ToArray()]);
            content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(type);
            var (code, body, _) = await SendAsync(HttpMethod.Post, path, content);
            Assert.Equal(HttpStatusCode.BadRequest, code);
            Assert.Contains("UTF-8", Message(body), StringComparison.Ordinal);
        }
        Assert.Equal(revision, await RevisionAsync());
    }

    [Fact]
    public async Task ObjectsNestedToTheLimitCanBeReadPatchedAppliedAndListed()
    {
        var k = new Kubectl(Kubectl.V132, fixture.Server.Kubeconfig);
        (await k.RunWithInputAsync("""
            apiVersion: apiextensions.k8s.io/v1
            kind: CustomResourceDefinition
            metadata: {name: deeps.example.com}
            spec:
              group: example.com
              scope: Namespaced
              names: {plural: deeps, singular: deep, kind: Deep}
              versions:
              - name: v1
                served: true
                storage: true
                schema:
                  openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
            """, "apply", "-f", "-")).Ok();
        const string path = "/apis/example.com/v1/namespaces/default/deeps";
        await Eventually.ForAsync(async () => (await SendAsync(HttpMethod.Get, path)).Code == HttpStatusCode.OK ? new object() : null);

        // 985 levels under spec: the object as a whole nests 987 deep (the object, spec, then the chain), near the limit.
        var deep = Nested(985, "\"leaf\"");
        Assert.Equal(HttpStatusCode.Created, (await SendAsync(HttpMethod.Post, path, Body($$"""{"apiVersion":"example.com/v1","kind":"Deep","metadata":{"name":"d"},"spec":{{deep}}}""", "application/json"))).Code);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Patch, path + "/d", Body("""{"metadata":{"labels":{"x":"y"}},"spec":""" + Nested(985, "\"other\"") + "}", "application/merge-patch+json"))).Code);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Patch, path + "/d?fieldManager=deep&force=true",
            Body($$"""{"apiVersion":"example.com/v1","kind":"Deep","metadata":{"name":"d"},"spec":{{deep}}}""", "application/apply-patch+yaml"))).Code);
        Assert.Contains("d", (await k.RunAsync("get", "deeps", "-n", "default")).Ok().Out, StringComparison.Ordinal);
        Assert.Equal("y", (await k.RunAsync("get", "deep", "d", "-n", "default", "-o", "jsonpath={.metadata.labels.x}")).Ok().Out);

        // A JSON patch that would take it past the limit is refused; the object stays as it was.
        var (code, body, _) = await SendAsync(HttpMethod.Patch, path + "/d",
            Body($$"""[{"op":"add","path":"/spec{{string.Concat(Enumerable.Repeat("/a", 984))}}/b","value":{{Nested(900, "1")}}}]""", "application/json-patch+json"));
        Assert.Equal((HttpStatusCode)422, code);
        Assert.StartsWith("the patched object would nest deeper than 990 levels", Message(body), StringComparison.Ordinal);
        (await k.RunAsync("delete", "deep", "d", "-n", "default")).Ok();
        (await k.RunAsync("delete", "crd", "deeps.example.com")).Ok();
    }
}
