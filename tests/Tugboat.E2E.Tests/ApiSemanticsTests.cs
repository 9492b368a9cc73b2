using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;

namespace Tugboat.E2E.Tests;

/// <summary>REST semantics and bad input, over HTTPS with the admin certificate (and without it).</summary>
public sealed class ApiSemanticsTests(ApiOnlyServerFixture fixture) : IClassFixture<ApiOnlyServerFixture>
{
    private static StringContent Json(string json, string type = "application/json") => new(json, Encoding.UTF8, type);

    private async Task<(HttpStatusCode Code, JsonNode? Body)> SendAsync(HttpMethod method, string path, HttpContent? content = null)
    {
        using var client = fixture.Server.AdminClient();
        using var response = await client.SendAsync(new HttpRequestMessage(method, path) { Content = content });
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text));
    }

    private static string Reason(JsonNode? status) => status?["reason"]?.GetValue<string>() ?? string.Empty;

    private static string Message(JsonNode? status) => status?["message"]?.GetValue<string>() ?? string.Empty;

    [Fact]
    public async Task PodsWithoutAPriorityClassGetTheGlobalDefaultOne()
    {
        var k = new Kubectl(Kubectl.V132, fixture.Server.Kubeconfig);
        (await k.RunAsync("create", "namespace", "default-priority")).Ok();
        try
        {
            (await k.RunWithInputAsync("""
                apiVersion: scheduling.k8s.io/v1
                kind: PriorityClass
                metadata: {name: usual}
                value: 500
                globalDefault: true
                preemptionPolicy: Never
                ---
                apiVersion: scheduling.k8s.io/v1
                kind: PriorityClass
                metadata: {name: special}
                value: 900
                """, "apply", "-f", "-")).Ok();
            (await k.RunAsync("run", "plain", "-n", "default-priority", "--image=nginx")).Ok();
            Assert.Equal("usual 500 Never", (await k.RunAsync("get", "pod", "plain", "-n", "default-priority", "-o", "jsonpath={.spec.priorityClassName} {.spec.priority} {.spec.preemptionPolicy}")).Ok().Out);
            (await k.RunAsync("run", "named", "-n", "default-priority", "--image=nginx", "--overrides", """{"spec":{"priorityClassName":"special"}}""")).Ok();
            Assert.Equal("special 900", (await k.RunAsync("get", "pod", "named", "-n", "default-priority", "-o", "jsonpath={.spec.priorityClassName} {.spec.priority}")).Ok().Out);

            // One default at most; the class itself may be re-applied as it is.
            var second = await k.RunWithInputAsync("""
                apiVersion: scheduling.k8s.io/v1
                kind: PriorityClass
                metadata: {name: another}
                value: 10
                globalDefault: true
                """, "create", "-f", "-");
            Assert.Contains("priorityclasses.scheduling.k8s.io \"another\" is forbidden: PriorityClass usual is already marked as default. Only one default can exist", second.Fails().Err, StringComparison.Ordinal);
            (await k.RunAsync("label", "priorityclass", "usual", "tier=base")).Ok();
            Assert.Contains("NotFound", (await k.RunAsync("get", "priorityclass", "another")).Fails().Err, StringComparison.Ordinal);
        }
        finally
        {
            await k.RunAsync("delete", "priorityclass", "usual", "special", "--ignore-not-found");
            await k.RunAsync("delete", "namespace", "default-priority", "--wait=false");
        }
    }

    [Fact]
    public async Task AnonymousRequestsAreUnauthorized()
    {
        using var client = fixture.Server.AdminClient(withCertificate: false);
        foreach (var path in new[] { "/api/v1/namespaces", "/version", "/healthz" })
        {
            using var response = await client.GetAsync(path);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            var status = JsonNode.Parse(await response.Content.ReadAsStringAsync());
            Assert.Equal("Unauthorized", Reason(status));
            Assert.Equal(401, status!["code"]!.GetValue<int>());
        }
    }

    [Fact]
    public async Task MalformedAndInvalidPatchesOfEveryTypeChangeNothing()
    {
        const string collection = "/apis/apps/v1/namespaces/default/deployments";
        const string path = collection + "/badpatch";
        var created = await SendAsync(HttpMethod.Post, collection, Json("""
            {"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"badpatch"},"spec":{"replicas":1,"selector":{"matchLabels":{"a":"b"}},
             "template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"nginx"}]}}}}
            """));
        Assert.Equal(HttpStatusCode.Created, created.Code);
        var rv = created.Body!["metadata"]!["resourceVersion"]!.GetValue<string>();
        var patch = new HttpMethod("PATCH");
        const string merge = "application/merge-patch+json", json = "application/json-patch+json", strategic = "application/strategic-merge-patch+json", apply = "application/apply-patch+yaml";
        (string Type, string Body, string Query, int Code, string Message)[] cases =
        [
            (merge, "{bad", "", 400, "json parse error"),
            (merge, "[1]", "", 400, "cannot unmarshal"),
            (merge, """{"spec":{"replicas":-1}}""", "", 422, "spec.replicas: Invalid value: -1: must be greater than or equal to 0"),
            (json, """{"op":"add"}""", "", 400, "cannot unmarshal object into Go value of type jsonpatch.Patch"),
            (json, """[{"op":"replace","path":"/spec/nothere/x","value":1}]""", "", 422, "replace operation does not apply: doc is missing path"),
            (json, """[{"op":"test","path":"/spec/replicas","value":5}]""", "", 422, "testing value /spec/replicas failed"),
            (json, """[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":""}]""", "", 422, "spec.template.spec.containers[0].image: Required value"),
            (strategic, "{bad", "", 400, "json parse error"),
            (strategic, """{"spec":{"template":{"spec":{"containers":[{"$patch":"bogus","name":"c"}]}}}}""", "", 422, "Unknown patch type: \"bogus\""),
            (strategic, """{"spec":{"selector":{"matchLabels":{"a":"other"}}}}""", "", 422, "field is immutable"),
            (apply, """{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"badpatch"},"spec":{"replicas":2}}""", "", 422, "fieldManager: Required value: is required for apply patch"),
            (apply, "kind: [unclosed", "?fieldManager=t", 400, string.Empty),
            (apply, """{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"badpatch"}}""", "?fieldManager=t", 400, "the applied configuration is a ConfigMap of v1"),
            (apply, """{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"badpatch","managedFields":[{"manager":"x"}]}}""", "?fieldManager=t", 400, "metadata.managedFields must be nil"),
            (apply, """{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"badpatch"},"spec":{"replicas":-2}}""", "?fieldManager=t&force=true", 422, "spec.replicas: Invalid value: -2"),
            (apply, """{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"badpatch"},"spec":{"replicas":3}}""", "?fieldManager=t&force=true&fieldValidation=Strict", 200, string.Empty),
            (merge, """{"spec":{"replicas":4}}""", "?force=true", 422, "force: Forbidden: may not be specified for non-apply patch"),
        ];
        foreach (var (type, body, query, code, message) in cases)
        {
            var (status, answer) = await SendAsync(patch, path + query, Json(body, type));
            Assert.True((int)status == code, $"{type} {body}: expected {code}, got {(int)status} {answer?.ToJsonString()}");
            if (code != 200)
            {
                Assert.Contains(message, Message(answer));
                Assert.Equal(rv, (await SendAsync(HttpMethod.Get, path)).Body!["metadata"]!["resourceVersion"]!.GetValue<string>());
            }
            else
            {
                rv = answer!["metadata"]!["resourceVersion"]!.GetValue<string>();
            }
        }

        // A conflicting apply is a 409 naming the manager and the field, and stores nothing.
        var conflict = await SendAsync(patch, path + "?fieldManager=other", Json("""{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"badpatch"},"spec":{"replicas":7}}""", apply));
        Assert.Equal(HttpStatusCode.Conflict, conflict.Code);
        Assert.Equal("Apply failed with 1 conflict: conflict with \"t\": .spec.replicas", Message(conflict.Body));
        Assert.Equal("FieldManagerConflict", conflict.Body!["details"]!["causes"]![0]!["reason"]!.GetValue<string>());
        Assert.Equal(".spec.replicas", conflict.Body!["details"]!["causes"]![0]!["field"]!.GetValue<string>());
        Assert.Equal(rv, (await SendAsync(HttpMethod.Get, path)).Body!["metadata"]!["resourceVersion"]!.GetValue<string>());
    }

    [Fact]
    public async Task BadInputGetsUpstreamErrorsAndChangesNothing()
    {
        const string path = "/api/v1/namespaces/default/configmaps";
        var (_, before) = await SendAsync(HttpMethod.Get, path);
        var rv = before!["metadata"]!["resourceVersion"]!.GetValue<string>();

        var malformed = await SendAsync(HttpMethod.Post, path, Json("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\","));
        Assert.Equal(HttpStatusCode.BadRequest, malformed.Code);
        Assert.Equal("BadRequest", Reason(malformed.Body));

        var badYaml = await SendAsync(HttpMethod.Post, path, Json("kind: ConfigMap\nmetadata: [unclosed", "application/yaml"));
        Assert.Equal(HttpStatusCode.BadRequest, badYaml.Code);

        var wrongKind = await SendAsync(HttpMethod.Post, path, Json("{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"x\"}}"));
        Assert.Equal(HttpStatusCode.BadRequest, wrongKind.Code);
        var wrongVersion = await SendAsync(HttpMethod.Post, path, Json("{\"apiVersion\":\"apps/v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"x\"}}"));
        Assert.Equal(HttpStatusCode.BadRequest, wrongVersion.Code);
        Assert.Contains("does not match the expected API version (v1)", Message(wrongVersion.Body));

        var invalid = await SendAsync(HttpMethod.Post, path, Json("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"Not_Valid\"}}"));
        Assert.Equal((HttpStatusCode)422, invalid.Code);
        Assert.Equal("Invalid", Reason(invalid.Body));
        Assert.StartsWith("ConfigMap \"Not_Valid\" is invalid: metadata.name: Invalid value: \"Not_Valid\": a lowercase RFC 1123 subdomain", Message(invalid.Body));
        Assert.Equal("metadata.name", invalid.Body!["details"]!["causes"]![0]!["field"]!.GetValue<string>());

        var invalidPod = await SendAsync(HttpMethod.Post, "/api/v1/namespaces/default/pods", Json("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":[{\"name\":\"c\"}]}}"));
        Assert.Equal((HttpStatusCode)422, invalidPod.Code);
        Assert.Equal("Pod \"p\" is invalid: spec.containers[0].image: Required value", Message(invalidPod.Body));

        var huge = "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"huge\"},\"data\":{\"a\":\"" + new string('x', 4 * 1024 * 1024) + "\"}}";
        var tooLarge = await SendAsync(HttpMethod.Post, path, Json(huge));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, tooLarge.Code);
        Assert.Equal("RequestEntityTooLarge", Reason(tooLarge.Body));

        var unsupported = await SendAsync(HttpMethod.Post, path, Json("<xml/>", "application/xml"));
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, unsupported.Code);

        var missingNs = await SendAsync(HttpMethod.Post, "/api/v1/namespaces/nope/configmaps", Json("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"x\"}}"));
        Assert.Equal(HttpStatusCode.NotFound, missingNs.Code);
        Assert.Equal("namespaces \"nope\" not found", Message(missingNs.Body));

        var (_, after) = await SendAsync(HttpMethod.Get, path);
        Assert.Equal(rv, after!["metadata"]!["resourceVersion"]!.GetValue<string>());
    }

    [Fact]
    public async Task StaleResourceVersionConflictsAndStatusIsSeparateFromSpec()
    {
        const string path = "/apis/apps/v1/namespaces/default/deployments";
        var body = "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"cc\"},\"spec\":{\"selector\":{\"matchLabels\":{\"a\":\"b\"}},\"template\":{\"metadata\":{\"labels\":{\"a\":\"b\"}},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}}},\"status\":{\"replicas\":7}}";
        var (code, created) = await SendAsync(HttpMethod.Post, path, Json(body));
        Assert.Equal(HttpStatusCode.Created, code);
        Assert.Null(created!["status"]!["replicas"]);
        var rv1 = created["metadata"]!["resourceVersion"]!.GetValue<string>();

        created["spec"]!["replicas"] = 3;
        var (c2, updated) = await SendAsync(HttpMethod.Put, path + "/cc", Json(created.ToJsonString()));
        Assert.Equal(HttpStatusCode.OK, c2);
        Assert.Equal(2, updated!["metadata"]!["generation"]!.GetValue<int>());

        created["spec"]!["replicas"] = 4;
        var (c3, conflict) = await SendAsync(HttpMethod.Put, path + "/cc", Json(created.ToJsonString()));
        Assert.Equal(HttpStatusCode.Conflict, c3);
        Assert.Equal("Conflict", Reason(conflict));
        Assert.Equal("Operation cannot be fulfilled on deployments.apps \"cc\": the object has been modified; please apply your changes to the latest version and try again", Message(conflict));
        Assert.NotEqual(rv1, updated["metadata"]!["resourceVersion"]!.GetValue<string>());

        // The status subresource changes only status; the main resource ignores status.
        updated["status"] = new JsonObject { ["replicas"] = 3 };
        updated["spec"]!["replicas"] = 9;
        var (c4, status) = await SendAsync(HttpMethod.Put, path + "/cc/status", Json(updated.ToJsonString()));
        Assert.Equal(HttpStatusCode.OK, c4);
        Assert.Equal(3, status!["spec"]!["replicas"]!.GetValue<int>());
        Assert.Equal(3, status["status"]!["replicas"]!.GetValue<int>());
        Assert.Equal(2, status["metadata"]!["generation"]!.GetValue<int>());

        var (c5, scale) = await SendAsync(HttpMethod.Get, path + "/cc/scale");
        Assert.Equal(HttpStatusCode.OK, c5);
        Assert.Equal("Scale", scale!["kind"]!.GetValue<string>());
        Assert.Equal("autoscaling/v1", scale["apiVersion"]!.GetValue<string>());
        Assert.Equal("a=b", scale["status"]!["selector"]!.GetValue<string>());
    }

    [Fact]
    public async Task ListPagesWithContinueAndWatchResumesFromAResourceVersion()
    {
        var ns = "paging";
        await SendAsync(HttpMethod.Post, "/api/v1/namespaces", Json($"{{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{{\"name\":\"{ns}\"}}}}"));
        for (var i = 0; i < 7; i++)
        {
            var (code, _) = await SendAsync(HttpMethod.Post, $"/api/v1/namespaces/{ns}/configmaps", Json($"{{\"metadata\":{{\"name\":\"c{i}\",\"labels\":{{\"even\":\"{i % 2 == 0}\"}}}}}}"));
            Assert.Equal(HttpStatusCode.Created, code);
        }
        var names = new List<string>();
        string? cont = null;
        string? firstRv = null;
        do
        {
            var (_, page) = await SendAsync(HttpMethod.Get, $"/api/v1/namespaces/{ns}/configmaps?limit=3&labelSelector=even%3DTrue" + (cont is null ? string.Empty : "&continue=" + Uri.EscapeDataString(cont)));
            firstRv ??= page!["metadata"]!["resourceVersion"]!.GetValue<string>();
            Assert.Equal(firstRv, page!["metadata"]!["resourceVersion"]!.GetValue<string>());
            names.AddRange(page["items"]!.AsArray().Select(i => i!["metadata"]!["name"]!.GetValue<string>()));
            cont = page["metadata"]!["continue"]?.GetValue<string>();
        }
        while (cont is not null);
        Assert.Equal(["c0", "c2", "c4", "c6"], names);

        using var client = fixture.Server.AdminClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/v1/namespaces/{ns}/configmaps?watch=1&resourceVersion={firstRv}&timeoutSeconds=10");
        var update = SendAsync(new HttpMethod("PATCH"), $"/api/v1/namespaces/{ns}/configmaps/c1", Json("{\"data\":{\"x\":\"y\"}}", "application/merge-patch+json"));
        Assert.Equal(HttpStatusCode.OK, (await update).Code);
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var line = await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10));
        var ev = JsonNode.Parse(line!)!;
        Assert.Equal("MODIFIED", ev["type"]!.GetValue<string>());
        Assert.Equal("c1", ev["object"]!["metadata"]!["name"]!.GetValue<string>());
        Assert.Equal("y", ev["object"]!["data"]!["x"]!.GetValue<string>());

        // A creation arrives as ADDED, a deletion as DELETED.
        var (created, _) = await SendAsync(HttpMethod.Post, $"/api/v1/namespaces/{ns}/configmaps", Json("{\"metadata\":{\"name\":\"c-new\"}}"));
        Assert.Equal(HttpStatusCode.Created, created);
        await SendAsync(HttpMethod.Delete, $"/api/v1/namespaces/{ns}/configmaps/c-new");
        var added = JsonNode.Parse((await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10)))!)!;
        Assert.Equal(("ADDED", "c-new"), (added["type"]!.GetValue<string>(), added["object"]!["metadata"]!["name"]!.GetValue<string>()));
        var deleted = JsonNode.Parse((await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10)))!)!;
        Assert.Equal(("DELETED", "c-new"), (deleted["type"]!.GetValue<string>(), deleted["object"]!["metadata"]!["name"]!.GetValue<string>()));
    }

    [Fact]
    public async Task FieldValidationHandlesUnknownAndDuplicateFieldsAsUpstream()
    {
        const string path = "/api/v1/namespaces/default/configmaps";
        string Body(string name) => $$"""{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"{{name}}","bogus":1},"data":{"a":"b"},"extra":true}""";
        var (strict, error) = await SendAsync(HttpMethod.Post, path + "?fieldValidation=Strict", Json(Body("fv-strict")));
        Assert.Equal(HttpStatusCode.BadRequest, strict);
        Assert.Equal("ConfigMap in version \"v1\" cannot be handled as a ConfigMap: strict decoding error: unknown field \"metadata.bogus\", unknown field \"extra\"", Message(error));

        using var client = fixture.Server.AdminClient();
        using var warned = await client.PostAsync(path, Json(Body("fv-warn")));
        Assert.Equal(HttpStatusCode.Created, warned.StatusCode);
        Assert.Contains("299 - \"unknown field \\\"extra\\\"\"", warned.Headers.GetValues("Warning"));
        var stored = JsonNode.Parse(await warned.Content.ReadAsStringAsync())!;
        Assert.Null(stored["extra"]);
        Assert.Null(stored["metadata"]!["bogus"]);

        var (dup, dupError) = await SendAsync(HttpMethod.Post, path + "?fieldValidation=Strict", Json("""{"metadata":{"name":"fv-dup"},"data":{"a":"1","a":"2"}}"""));
        Assert.Equal(HttpStatusCode.BadRequest, dup);
        Assert.Contains("duplicate field \"data.a\"", Message(dupError));
        var (ignored, kept) = await SendAsync(HttpMethod.Post, path + "?fieldValidation=Ignore", Json("""{"metadata":{"name":"fv-dup"},"data":{"a":"1","a":"2"}}"""));
        Assert.Equal(HttpStatusCode.Created, ignored);
        Assert.Equal("2", kept!["data"]!["a"]!.GetValue<string>());
    }

    [Fact]
    public async Task ServicesGetClusterIpsAndNodePortsFromTheirRanges()
    {
        var (code, svc) = await SendAsync(HttpMethod.Post, "/api/v1/namespaces/default/services",
            Json("{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"np\"},\"spec\":{\"type\":\"NodePort\",\"ports\":[{\"port\":80}]}}"));
        Assert.Equal(HttpStatusCode.Created, code);
        Assert.StartsWith("10.43.", svc!["spec"]!["clusterIP"]!.GetValue<string>());
        var nodePort = svc["spec"]!["ports"]![0]!["nodePort"]!.GetValue<int>();
        Assert.InRange(nodePort, 30000, 32767);
        Assert.Equal(80, svc["spec"]!["ports"]![0]!["targetPort"]!.GetValue<int>());
        var (dup, error) = await SendAsync(HttpMethod.Post, "/api/v1/namespaces/default/services",
            Json($"{{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{{\"name\":\"np2\"}},\"spec\":{{\"type\":\"NodePort\",\"ports\":[{{\"port\":80,\"nodePort\":{nodePort}}}]}}}}"));
        Assert.Equal((HttpStatusCode)422, dup);
        Assert.Contains("provided port is already allocated", Message(error));
    }
}
