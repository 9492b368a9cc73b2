using System.Text.Json.Nodes;
using Tugboat.Api.Meta;
using Tugboat.ApiServer.Registry;
using Tugboat.Storage;
using Reg = Tugboat.ApiServer.Registry.Registry;

namespace Tugboat.ApiServer.Tests.Registry;

/// <summary>Upstream REST semantics of the generic registry, over the memory store.</summary>
public sealed class RegistryTests : IAsyncLifetime
{
    private readonly MemoryStore _store = new();
    private Reg _registry = null!;
    private ResourceType Cm => _registry.Catalog.Get(string.Empty, "ConfigMap");
    private ResourceType Ns => _registry.Catalog.Get(string.Empty, "Namespace");
    private ResourceType Pod => _registry.Catalog.Get(string.Empty, "Pod");
    private ResourceType Deploy => _registry.Catalog.Get("apps", "Deployment");

    public async Task InitializeAsync()
    {
        _registry = new Reg(_store, Builtins.Create());
        await _registry.CreateAsync(Ns, null, Obj("""{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"default"}}"""), false);
    }

    public async Task DisposeAsync() => await _store.DisposeAsync();

    private static JsonObject Obj(string json) => JsonNode.Parse(json)!.AsObject();

    private static JsonObject ConfigMap(string name, string? labels = null) =>
        Obj("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"" + name + "\"" + (labels is null ? string.Empty : ",\"labels\":" + labels) + "},\"data\":{\"k\":\"v\"}}");

    private static JsonObject Deployment(string name) => Obj("""
        {"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"NAME"},
         "spec":{"selector":{"matchLabels":{"app":"x"}},"template":{"metadata":{"labels":{"app":"x"}},"spec":{"containers":[{"name":"c","image":"i"}]}}}}
        """.Replace("NAME", name, StringComparison.Ordinal));

    private static async Task<ApiException> Fails(Func<Task> action) => await Assert.ThrowsAsync<ApiException>(action);

    [Fact]
    public async Task CreateFillsServerFieldsAndDefaults()
    {
        var entry = await _registry.CreateAsync(Deploy, "default", Deployment("d"), false);
        var d = ObjectCodec.Decode(entry);
        Assert.NotNull(d.Str("metadata", "uid"));
        Assert.NotNull(d.Str("metadata", "creationTimestamp"));
        Assert.Equal(1, d.Long("metadata", "generation"));
        Assert.Equal(entry.ModRevision.ToString(), d.Str("metadata", "resourceVersion"));
        Assert.Equal(1, d.Long("spec", "replicas"));
        Assert.Equal("25%", d.Str("spec", "strategy", "rollingUpdate", "maxSurge"));
        Assert.Equal("Always", d.Str("spec", "template", "spec", "restartPolicy"));
        Assert.Equal("Always", d["spec"]!["template"]!["spec"]!["containers"]![0]!.Str("imagePullPolicy"));
    }

    [Fact]
    public async Task GenerateNameAlreadyExistsAndValidation()
    {
        var generated = ObjectCodec.Decode(await _registry.CreateAsync(Cm, "default", Obj("""{"metadata":{"generateName":"gen-"}}"""), false));
        Assert.Matches("^gen-[a-z0-9]{5}$", generated.Str("metadata", "name"));
        await _registry.CreateAsync(Cm, "default", ConfigMap("a"), false);
        var exists = await Fails(() => _registry.CreateAsync(Cm, "default", ConfigMap("a"), false));
        Assert.Equal((409, "AlreadyExists", "configmaps \"a\" already exists"), (exists.Code, exists.Reason, exists.Message));
        var invalid = await Fails(() => _registry.CreateAsync(Cm, "default", Obj("""{"metadata":{"name":"a","labels":{"k":"bad value"}},"data":{"bad key":"x"}}"""), false));
        Assert.Equal(422, invalid.Code);
        Assert.Contains("metadata.labels: Invalid value: \"bad value\"", invalid.Message);
        Assert.Contains("data[bad key]: Invalid value: \"bad key\"", invalid.Message);
        Assert.Equal(2, invalid.Details!["causes"]!.AsArray().Count);
        var noName = await Fails(() => _registry.CreateAsync(Cm, "default", Obj("""{"metadata":{}}"""), false));
        Assert.Equal("ConfigMap \"\" is invalid: metadata.name: Required value: name or generateName is required", noName.Message);
    }

    [Fact]
    public async Task NamespacesMustExistAndNotBeTerminating()
    {
        var missing = await Fails(() => _registry.CreateAsync(Cm, "nope", ConfigMap("a"), false));
        Assert.Equal((404, "namespaces \"nope\" not found"), (missing.Code, missing.Message));
        await _registry.CreateAsync(Ns, null, Obj("""{"metadata":{"name":"going"}}"""), false);
        var outcome = await _registry.DeleteAsync(Ns, null, "going", new DeleteOptions());
        Assert.False(outcome.Deleted);
        Assert.Equal("Terminating", ObjectCodec.Decode(outcome.Entry).Str("status", "phase"));
        var refused = await Fails(() => _registry.CreateAsync(Cm, "going", ConfigMap("a"), false));
        Assert.Equal((403, "unable to create new content in namespace going because it is being terminated"), (refused.Code, refused.Message));
    }

    [Fact]
    public async Task UpdatesHonourResourceVersionsAndSkipNoOps()
    {
        var created = ObjectCodec.Decode(await _registry.CreateAsync(Cm, "default", ConfigMap("u"), false));
        var unchanged = await _registry.UpdateAsync(Cm, "default", "u", (JsonObject)created.DeepClone(), string.Empty, false);
        Assert.Equal(created.Str("metadata", "resourceVersion"), unchanged.ModRevision.ToString());
        var changed = (JsonObject)created.DeepClone();
        changed["data"]!["k"] = "w";
        var updated = await _registry.UpdateAsync(Cm, "default", "u", changed, string.Empty, false);
        Assert.True(updated.ModRevision > unchanged.ModRevision);
        var stale = await Fails(() => _registry.UpdateAsync(Cm, "default", "u", changed, string.Empty, false));
        Assert.Equal(409, stale.Code);
        Assert.Equal("Conflict", stale.Reason);
        var renamed = (JsonObject)created.DeepClone();
        renamed.Meta()["name"] = "other";
        Assert.Equal(400, (await Fails(() => _registry.UpdateAsync(Cm, "default", "u", renamed, string.Empty, false))).Code);
        var immutableFields = ObjectCodec.Decode(updated);
        immutableFields.Meta()["uid"] = "forged";
        immutableFields.Meta().Remove("resourceVersion");
        var kept = ObjectCodec.Decode(await _registry.UpdateAsync(Cm, "default", "u", immutableFields, string.Empty, false));
        Assert.Equal(created.Str("metadata", "uid"), kept.Str("metadata", "uid"));
    }

    [Fact]
    public async Task StatusAndSpecAreWrittenSeparatelyAndGenerationFollowsSpec()
    {
        var d = ObjectCodec.Decode(await _registry.CreateAsync(Deploy, "default", Deployment("g"), false));
        var withStatus = (JsonObject)d.DeepClone();
        withStatus["status"] = new JsonObject { ["replicas"] = 5 };
        withStatus.Meta().Ensure("labels")["x"] = "y";
        var main = ObjectCodec.Decode(await _registry.UpdateAsync(Deploy, "default", "g", withStatus, string.Empty, false));
        Assert.Null(main.Long("status", "replicas"));
        Assert.Equal(1, main.Long("metadata", "generation"));
        var statusWrite = (JsonObject)main.DeepClone();
        statusWrite["status"] = new JsonObject { ["replicas"] = 5 };
        statusWrite["spec"]!["replicas"] = 9;
        var status = ObjectCodec.Decode(await _registry.UpdateAsync(Deploy, "default", "g", statusWrite, "status", false));
        Assert.Equal(5, status.Long("status", "replicas"));
        Assert.Equal(1, status.Long("spec", "replicas"));
        var specWrite = (JsonObject)status.DeepClone();
        specWrite["spec"]!["replicas"] = 3;
        Assert.Equal(2, ObjectCodec.Decode(await _registry.UpdateAsync(Deploy, "default", "g", specWrite, string.Empty, false)).Long("metadata", "generation"));
        var immutable = await Fails(() => _registry.PatchAsync(Deploy, "default", "g", o =>
        {
            o["spec"]!["selector"] = new JsonObject { ["matchLabels"] = new JsonObject { ["app"] = "other" } };
            return o;
        }, string.Empty, false));
        Assert.Contains("spec.selector: Invalid value", immutable.Message);
    }

    [Fact]
    public async Task StatusAndBindingPatchesChangeOnlyTheirPart()
    {
        var created = ObjectCodec.Decode(await _registry.CreateAsync(Pod, "default", Obj("""
            {"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"i"}]}}
            """), false));
        // pods/binding's own change, as the API handler makes it.
        var bound = ObjectCodec.Decode(await _registry.PatchAsync(Pod, "default", "p", o =>
        {
            o.Ensure("spec")["nodeName"] = "n1";
            o.Ensure("status")["conditions"] = new JsonArray(new JsonObject { ["type"] = "PodScheduled", ["status"] = "True" });
            return o;
        }, "binding", false));
        Assert.Equal(("n1", "i", "b", "PodScheduled"), (bound.Str("spec", "nodeName"), bound["spec"]!["containers"]![0]!.Str("image"), bound.Str("metadata", "labels", "a"), bound["status"]!["conditions"]![0]!.Str("type")));
        var running = ObjectCodec.Decode(await _registry.PatchAsync(Pod, "default", "p", o =>
        {
            o["status"]!["phase"] = "Running";
            return o;
        }, "status", false));
        Assert.Equal(("Running", "PodScheduled"), (running.Str("status", "phase"), running["status"]!["conditions"]![0]!.Str("type")));
        var again = await _registry.PatchAsync(Pod, "default", "p", o =>
        {
            o["status"]!["phase"] = "Running";
            return o;
        }, "status", false);
        Assert.Equal(running.Str("metadata", "resourceVersion"), again.ModRevision.ToString());
        var specInStatus = ObjectCodec.Decode(await _registry.PatchAsync(Pod, "default", "p", o =>
        {
            o["status"]!["phase"] = "Succeeded";
            o["spec"]!["containers"]![0]!["image"] = "forged";
            o.Meta().Remove("labels");
            return o;
        }, "status", false));
        Assert.Equal(("Succeeded", "i", "b"), (specInStatus.Str("status", "phase"), specInStatus["spec"]!["containers"]![0]!.Str("image"), specInStatus.Str("metadata", "labels", "a")));
        Assert.Equal(created.Str("metadata", "uid"), specInStatus.Str("metadata", "uid"));
        // Status writes still get the status defaults; the spec keeps the defaults it was created with.
        var cleared = ObjectCodec.Decode(await _registry.PatchAsync(Pod, "default", "p", o =>
        {
            o["status"]!.AsObject().Remove("phase");
            o["status"]!["qosClass"] = "Guaranteed";
            return o;
        }, "status", false));
        Assert.Equal(("Pending", "BestEffort", "Always", "File"), (cleared.Str("status", "phase"), cleared.Str("status", "qosClass"),
            cleared["spec"]!["containers"]![0]!.Str("imagePullPolicy"), cleared["spec"]!["containers"]![0]!.Str("terminationMessagePolicy")));
    }

    [Fact]
    public async Task PatchesApplyAgainAfterAConcurrentWriteUnlessTheyNameAResourceVersion()
    {
        await _registry.CreateAsync(Cm, "default", ConfigMap("race"), false);
        var calls = 0;
        var patched = ObjectCodec.Decode(await _registry.PatchAsync(Cm, "default", "race", o =>
        {
            if (calls++ == 0)
            {
                // Another writer gets in between this patch's read and its write.
                var other = ObjectCodec.Decode(_registry.GetAsync(Cm, "default", "race").Result!);
                other["data"]!["other"] = "x";
                _registry.UpdateAsync(Cm, "default", "race", other, string.Empty, false).GetAwaiter().GetResult();
            }
            o["data"]!["mine"] = "y";
            return o;
        }, string.Empty, false));
        Assert.Equal((2, "x", "y"), (calls, patched.Str("data", "other"), patched.Str("data", "mine")));
        var stale = await Fails(() => _registry.PatchAsync(Cm, "default", "race", o =>
        {
            o.Meta()["resourceVersion"] = "1";
            o["data"]!["late"] = "z";
            return o;
        }, string.Empty, false));
        Assert.Equal((409, "Conflict"), (stale.Code, stale.Reason));
    }

    [Fact]
    public async Task FinalizersHoldDeletionUntilRemoved()
    {
        await _registry.CreateAsync(Cm, "default", Obj("""{"metadata":{"name":"f","finalizers":["example.com/hold"]}}"""), false);
        var first = await _registry.DeleteAsync(Cm, "default", "f", new DeleteOptions());
        Assert.False(first.Deleted);
        var held = ObjectCodec.Decode(first.Entry);
        Assert.NotNull(held.Str("metadata", "deletionTimestamp"));
        held.Meta()["finalizers"] = new JsonArray();
        await _registry.UpdateAsync(Cm, "default", "f", held, string.Empty, false);
        Assert.Null(await _registry.GetAsync(Cm, "default", "f"));
    }

    [Fact]
    public async Task DeletePreconditionsAndPropagationFinalizers()
    {
        await _registry.CreateAsync(Cm, "default", ConfigMap("p"), false);
        var wrongUid = await Fails(() => _registry.DeleteAsync(Cm, "default", "p", new DeleteOptions { PreconditionUid = "nope" }));
        Assert.StartsWith("Operation cannot be fulfilled on configmaps \"p\": Precondition failed: UID in precondition: nope", wrongUid.Message);
        var foreground = await _registry.DeleteAsync(Cm, "default", "p", new DeleteOptions { PropagationPolicy = "Foreground" });
        Assert.False(foreground.Deleted);
        Assert.Equal("foregroundDeletion", ObjectCodec.Decode(foreground.Entry).Arr("metadata", "finalizers")![0]!.GetValue<string>());
    }

    [Fact]
    public async Task PodsOnANodeAreDeletedGracefullyUnscheduledOnesAtOnce()
    {
        var pod = """{"metadata":{"name":"NAME"},"spec":{NODE"containers":[{"name":"c","image":"i"}]}}""";
        await _registry.CreateAsync(Pod, "default", Obj(pod.Replace("NAME", "bound").Replace("NODE", "\"nodeName\":\"n1\",")), false);
        await _registry.CreateAsync(Pod, "default", Obj(pod.Replace("NAME", "pending").Replace("NODE", string.Empty)), false);
        Assert.True((await _registry.DeleteAsync(Pod, "default", "pending", new DeleteOptions())).Deleted);
        var graceful = await _registry.DeleteAsync(Pod, "default", "bound", new DeleteOptions());
        Assert.False(graceful.Deleted);
        Assert.Equal(30, ObjectCodec.Decode(graceful.Entry).Long("metadata", "deletionGracePeriodSeconds"));
        Assert.True((await _registry.DeleteAsync(Pod, "default", "bound", new DeleteOptions { GracePeriodSeconds = 0 })).Deleted || await _registry.GetAsync(Pod, "default", "bound") is null);
    }

    [Fact]
    public async Task ListsPageBySelectorsAndExpireCompactedContinueTokens()
    {
        for (var i = 0; i < 6; i++)
        {
            await _registry.CreateAsync(Cm, "default", ConfigMap($"l{i}", i % 2 == 0 ? """{"even":"yes"}""" : """{"even":"no"}"""), false);
        }
        var options = new ListOptions { Labels = LabelSelector.Parse("even=yes"), Limit = 2 };
        var page1 = await _registry.ListAsync(Cm, "default", options);
        Assert.Equal(2, page1.Items.Count);
        Assert.NotNull(page1.Continue);
        await _registry.CreateAsync(Cm, "default", ConfigMap("l9", """{"even":"yes"}"""), false);
        var page2 = await _registry.ListAsync(Cm, "default", options with { Continue = page1.Continue });
        Assert.Equal(["/registry/configmaps/default/l4"], page2.Items.Select(i => i.Key));
        Assert.Null(page2.Continue);
        await _store.CompactAsync(_store.CurrentRevision);
        var expired = await Fails(() => _registry.ListAsync(Cm, "default", options with { Continue = page1.Continue }));
        Assert.Equal((410, "Expired"), (expired.Code, expired.Reason));
        var badField = await Fails(() => _registry.ListAsync(Cm, "default", new ListOptions { Fields = FieldSelector.Parse("spec.nodeName=x") }));
        Assert.Equal("field label not supported: spec.nodeName", badField.Message);
        var fields = await _registry.ListAsync(Cm, "default", new ListOptions { Fields = FieldSelector.Parse("metadata.name=l3") });
        Assert.Single(fields.Items);
    }

    [Fact]
    public async Task WatchesFollowSelectorsAndReportCompaction()
    {
        var start = _store.CurrentRevision;
        await _registry.CreateAsync(Cm, "default", ConfigMap("w", """{"watched":"yes"}"""), false);
        await _registry.PatchAsync(Cm, "default", "w", o =>
        {
            o.Meta()["labels"] = new JsonObject { ["watched"] = "no" };
            return o;
        }, string.Empty, false);
        await _registry.PatchAsync(Cm, "default", "w", o =>
        {
            o.Meta()["labels"] = new JsonObject { ["watched"] = "yes" };
            return o;
        }, string.Empty, false);
        await _registry.DeleteAsync(Cm, "default", "w", new DeleteOptions());
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var types = new List<string>();
        await foreach (var e in _registry.WatchAsync(Cm, "default", new ListOptions { Labels = LabelSelector.Parse("watched=yes"), ResourceVersion = start.ToString() }, cts.Token))
        {
            types.Add(e.Type);
            if (types.Count == 4)
            {
                break;
            }
        }
        Assert.Equal(["ADDED", "DELETED", "ADDED", "DELETED"], types);

        await _store.CompactAsync(_store.CurrentRevision);
        await foreach (var e in _registry.WatchAsync(Cm, "default", new ListOptions { ResourceVersion = start.ToString() }, cts.Token))
        {
            Assert.Equal("ERROR", e.Type);
            Assert.Equal(410, e.Error!.Long("code"));
            Assert.Equal("Expired", e.Error.Str("reason"));
            break;
        }
    }

    [Fact]
    public async Task ScaleReadsAndWritesReplicas()
    {
        await _registry.CreateAsync(Deploy, "default", Deployment("s"), false);
        var scale = Scale.FromObject(Deploy, ObjectCodec.Decode((await _registry.GetAsync(Deploy, "default", "s"))!));
        Assert.Equal("app=x", scale.Str("status", "selector"));
        scale["spec"]!["replicas"] = 4;
        var updated = ObjectCodec.Decode(await Scale.UpdateAsync(_registry, Deploy, "default", "s", scale, false, default));
        Assert.Equal(4, updated.Long("spec", "replicas"));
        scale["spec"]!["replicas"] = 5;
        Assert.Equal(409, (await Fails(() => Scale.UpdateAsync(_registry, Deploy, "default", "s", scale, false, default))).Code);
    }

    [Fact]
    public async Task DryRunStoresNothing()
    {
        var before = _store.CurrentRevision;
        var entry = await _registry.CreateAsync(Cm, "default", ConfigMap("dry"), true);
        Assert.Equal(0, entry.ModRevision);
        Assert.Equal(before, _store.CurrentRevision);
        Assert.Null(await _registry.GetAsync(Cm, "default", "dry"));
    }

    [Fact]
    public async Task ServicesAllocateDistinctAddressesAndKeepThemAcrossUpdates()
    {
        var svc = _registry.Catalog.Get(string.Empty, "Service");
        var a = ObjectCodec.Decode(await _registry.CreateAsync(svc, "default", Obj("""{"metadata":{"name":"a"},"spec":{"type":"NodePort","ports":[{"port":80}]}}"""), false));
        var b = ObjectCodec.Decode(await _registry.CreateAsync(svc, "default", Obj("""{"metadata":{"name":"b"},"spec":{"ports":[{"port":80}]}}"""), false));
        Assert.NotEqual(a.Str("spec", "clusterIP"), b.Str("spec", "clusterIP"));
        Assert.Equal("None", ObjectCodec.Decode(await _registry.CreateAsync(svc, "default", Obj("""{"metadata":{"name":"h"},"spec":{"clusterIP":"None","ports":[{"port":80}]}}"""), false)).Str("spec", "clusterIP"));
        var replaced = Obj("""{"metadata":{"name":"a"},"spec":{"type":"NodePort","ports":[{"port":80}]}}""");
        var kept = ObjectCodec.Decode(await _registry.UpdateAsync(svc, "default", "a", replaced, string.Empty, false));
        Assert.Equal(a.Str("spec", "clusterIP"), kept.Str("spec", "clusterIP"));
        Assert.Equal(a["spec"]!["ports"]![0]!.Long("nodePort"), kept["spec"]!["ports"]![0]!.Long("nodePort"));
        var taken = await Fails(() => _registry.CreateAsync(svc, "default", Obj("""{"metadata":{"name":"c"},"spec":{"clusterIP":"ADDR","ports":[{"port":80}]}}""".Replace("ADDR", b.Str("spec", "clusterIP"), StringComparison.Ordinal)), false));
        Assert.Contains("provided IP is already allocated", taken.Message);
        var outside = await Fails(() => _registry.CreateAsync(svc, "default", Obj("""{"metadata":{"name":"d"},"spec":{"clusterIP":"192.168.1.1","ports":[{"port":80}]}}"""), false));
        Assert.Contains("not in the valid range", outside.Message);
    }
}
