using System.Text.Json.Nodes;
using Tugboat.Api.Apply;

namespace Tugboat.Api.Tests.Apply;

/// <summary>
/// Server-side apply and field ownership, with expectations from upstream's documented semantics
/// (kubernetes.io "Server-Side Apply": merge strategies, conflicts, transferring and sharing ownership, removal).
/// </summary>
public sealed class FieldManagerTests
{
    private static readonly DateTimeOffset Now = new(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);
    private static readonly FieldType Deployment = FieldType.Builtin("apps/v1", "Deployment")!;
    private static readonly Func<string, bool> Spec = key => key != "status";

    private static readonly System.Text.Json.JsonSerializerOptions Relaxed = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static JsonObject O(string json) => JsonNode.Parse(json)!.AsObject();

    private static JsonObject Apply(JsonObject? live, string config, string manager = "a", bool force = false) =>
        FieldManager.Apply(live, O(config), Deployment, manager, "apps/v1", null, force, Spec, Now);

    private static string Fields(JsonObject obj, string manager) =>
        FieldManager.Decode(obj["metadata"]!["managedFields"] as JsonArray).Single(e => e.Manager == manager).Fields.ToFieldsV1().ToJsonString(Relaxed);

    private static JsonObject Strip(JsonObject obj)
    {
        var copy = obj.DeepClone().AsObject();
        copy["metadata"]!.AsObject().Remove("managedFields");
        return copy;
    }

    private const string Base = """
        {"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d","labels":{"app":"d"}},
         "spec":{"replicas":2,"selector":{"matchLabels":{"app":"d"}},
           "template":{"metadata":{"labels":{"app":"d"}},"spec":{"containers":[
             {"name":"web","image":"nginx:1","ports":[{"containerPort":80}],"args":["-a"]}]}}}}
        """;

    [Fact]
    public void OwnsWhatItAppliesInFieldsV1Form()
    {
        var obj = Apply(null, Base);
        Assert.Equal(
            """{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:replicas":{},"f:selector":{},"f:template":{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"web\"}":{".":{},"f:args":{},"f:image":{},"f:name":{},"f:ports":{"k:{\"containerPort\":80,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{}}}}}}}}}""",
            Fields(obj, "a"));
        var entry = obj["metadata"]!["managedFields"]![0]!;
        Assert.Equal(("a", "Apply", "apps/v1", "2026-01-02T03:04:05Z", "FieldsV1"),
            (entry["manager"]!.GetValue<string>(), entry["operation"]!.GetValue<string>(), entry["apiVersion"]!.GetValue<string>(), entry["time"]!.GetValue<string>(), entry["fieldsType"]!.GetValue<string>()));
    }

    [Fact]
    public void ChangingAnotherManagersValueConflictsUnlessForced()
    {
        var obj = Apply(null, Base);
        var e = Assert.Throws<ApplyConflictException>(() => Apply(obj, """{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"replicas":5}}""", "b"));
        Assert.Equal("""Apply failed with 1 conflict: conflict with "a": .spec.replicas""", e.Message);

        var forced = Apply(obj, """{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"replicas":5}}""", "b", force: true);
        Assert.Equal(5, forced["spec"]!["replicas"]!.GetValue<int>());
        Assert.DoesNotContain("f:replicas", Fields(forced, "a"));
        Assert.Equal("""{"f:spec":{"f:replicas":{}}}""", Fields(forced, "b"));
    }

    [Fact]
    public void ApplyingTheSameValueSharesOwnership()
    {
        var obj = Apply(null, Base);
        var shared = Apply(obj, """{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"replicas":2}}""", "b");
        Assert.Contains("f:replicas", Fields(shared, "a"));
        Assert.Contains("f:replicas", Fields(shared, "b"));

        // The field stays while one owner still applies it, and goes once nobody does.
        var aDrops = Apply(shared, """{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"selector":{"matchLabels":{"app":"d"}}}}""");
        Assert.Equal(2, aDrops["spec"]!["replicas"]!.GetValue<int>());
        var bDrops = Apply(aDrops, """{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"}}""", "b");
        Assert.Null(bDrops["spec"]!["replicas"]);
    }

    [Fact]
    public void FieldsTheApplierNoLongerAppliesAreRemoved()
    {
        var obj = Apply(null, Base);
        var next = Apply(obj, Base.Replace(""","args":["-a"]""", string.Empty, StringComparison.Ordinal).Replace("\"labels\":{\"app\":\"d\"}},\n", "\"labels\":{}},\n", StringComparison.Ordinal));
        var container = next["spec"]!["template"]!["spec"]!["containers"]![0]!;
        Assert.Null(container["args"]);
        Assert.Equal("nginx:1", container["image"]!.GetValue<string>());
    }

    [Fact]
    public void KeyedListsMergeByKeyAndKeepOtherManagersItems()
    {
        var obj = Apply(null, Base);
        var withSidecar = Apply(obj, """
            {"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"template":{"spec":{"containers":[{"name":"side","image":"busybox"}]}}}}
            """, "b");
        var names = withSidecar["spec"]!["template"]!["spec"]!["containers"]!.AsArray().Select(c => c!["name"]!.GetValue<string>());
        Assert.Equal(["web", "side"], names);
        // The first manager re-applies without the sidecar: it never owned it, so it stays.
        var again = Apply(withSidecar, Base);
        Assert.Equal(2, again["spec"]!["template"]!["spec"]!["containers"]!.AsArray().Count);
    }

    [Fact]
    public void AtomicFieldsAreReplacedWhole()
    {
        var obj = Apply(null, Base);
        var next = Apply(obj, Base.Replace("""["-a"]""", """["-b","-c"]""", StringComparison.Ordinal).Replace("""{"matchLabels":{"app":"d"}}""", """{"matchExpressions":[{"key":"app","operator":"Exists"}]}""", StringComparison.Ordinal));
        Assert.Equal("""["-b","-c"]""", next["spec"]!["template"]!["spec"]!["containers"]![0]!["args"]!.ToJsonString());
        Assert.Equal("""{"matchExpressions":[{"key":"app","operator":"Exists"}]}""", next["spec"]!["selector"]!.ToJsonString());
    }

    [Fact]
    public void UpdatesTakeOwnershipOfWhatTheyChange()
    {
        var obj = Apply(null, Base);
        var changed = Strip(obj);
        changed["spec"]!["replicas"] = 7;
        changed["metadata"]!["annotations"] = new JsonObject { ["note"] = "x" };
        var managed = FieldManager.Update(obj, changed, Deployment, "kubectl-edit", "apps/v1", null, Spec, Now);
        changed["metadata"]!["managedFields"] = managed;
        Assert.Equal("""{"f:metadata":{"f:annotations":{".":{},"f:note":{}}},"f:spec":{"f:replicas":{}}}""", Fields(changed, "kubectl-edit"));
        Assert.DoesNotContain("f:replicas", Fields(changed, "a"));

        // The applier now conflicts on replicas, naming the updater and its version.
        var e = Assert.Throws<ApplyConflictException>(() => Apply(changed, Base));
        Assert.Equal("""Apply failed with 1 conflict: conflict with "kubectl-edit" using apps/v1: .spec.replicas""", e.Message);
    }

    [Fact]
    public void NoChangeKeepsEntriesAndTimes()
    {
        var obj = Apply(null, Base);
        var before = obj["metadata"]!["managedFields"]!.ToJsonString();
        var managed = FieldManager.Update(obj, Strip(obj), Deployment, "other", "apps/v1", null, Spec, Now.AddHours(1));
        Assert.Equal(before, managed!.ToJsonString());
    }

    [Fact]
    public void StatusWritesAreTrackedSeparately()
    {
        var obj = Apply(null, Base);
        var withStatus = Strip(obj);
        withStatus["status"] = new JsonObject { ["replicas"] = 2, ["conditions"] = new JsonArray(new JsonObject { ["type"] = "Available", ["status"] = "True" }) };
        var managed = FieldManager.Update(obj, withStatus, Deployment, "controller", "apps/v1", "status", key => key == "status", Now);
        var entry = managed!.Single(e => e!["manager"]!.GetValue<string>() == "controller")!;
        Assert.Equal("status", entry["subresource"]!.GetValue<string>());
        Assert.Equal("""{"f:status":{"f:conditions":{"k:{\"type\":\"Available\"}":{".":{},"f:status":{},"f:type":{}}},"f:replicas":{}}}""", entry["fieldsV1"]!.ToJsonString(Relaxed));
    }

    [Fact]
    public void SeveralConflictsAreListedPerManager()
    {
        var obj = Apply(null, Base);
        var e = Assert.Throws<ApplyConflictException>(() => Apply(obj, """
            {"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"replicas":3,"template":{"spec":{"containers":[{"name":"web","image":"nginx:2"}]}}}}
            """, "b"));
        Assert.Equal("Apply failed with 2 conflicts: conflicts with \"a\":\n- .spec.replicas\n- .spec.template.spec.containers[name=\"web\"].image", e.Message);
    }

    [Fact]
    public void SetsAndCustomResourceSchemasFollowTheirListTypes()
    {
        var schema = O("""
            {"type":"object","properties":{"spec":{"type":"object","properties":{
              "tags":{"type":"array","items":{"type":"string"},"x-kubernetes-list-type":"set"},
              "rules":{"type":"array","items":{"type":"object","properties":{"port":{"type":"integer"},"host":{"type":"string"}}},"x-kubernetes-list-type":"map","x-kubernetes-list-map-keys":["port"]},
              "args":{"type":"array","items":{"type":"string"}}}}}}
            """);
        var type = FieldType.CustomResource(schema);
        JsonObject A(JsonObject? live, string spec, string manager) => FieldManager.Apply(live, O($$"""{"apiVersion":"example.com/v1","kind":"W","metadata":{"name":"w"},"spec":{{spec}}}"""), type, manager, "example.com/v1", null, false, _ => true, Now);
        var one = A(null, """{"tags":["a"],"rules":[{"port":1,"host":"x"}],"args":["1"]}""", "a");
        var two = A(one, """{"tags":["b"],"rules":[{"port":2,"host":"y"}]}""", "b");
        Assert.Equal("""{"tags":["a","b"],"rules":[{"port":1,"host":"x"},{"port":2,"host":"y"}],"args":["1"]}""", two["spec"]!.ToJsonString());
        Assert.Equal("""{"f:spec":{"f:rules":{"k:{\"port\":2}":{".":{},"f:host":{},"f:port":{}}},"f:tags":{"v:\"b\"":{}}}}""", Fields(two, "b"));
        Assert.Throws<ApplyConflictException>(() => A(two, """{"args":["2"]}""", "b"));
    }

    [Fact]
    public void FieldsV1RoundTripsAndRejectsOtherShapes()
    {
        var text = """{"f:a":{".":{},"f:b":{}},"k:{\"name\":\"x\"}":{".":{},"f:name":{}},"v:\"s\"":{}}""";
        Assert.Equal(text, FieldSet.FromFieldsV1(JsonNode.Parse(text))!.ToFieldsV1().ToJsonString(Relaxed));
        Assert.Null(FieldSet.FromFieldsV1(JsonNode.Parse("""{"spec":{}}""")));
        Assert.Null(FieldSet.FromFieldsV1(JsonNode.Parse("""{"f:a":1}""")));
    }
}
