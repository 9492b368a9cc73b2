using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using System.Web;

namespace Tugboat.Controllers.Tests.Fakes;

/// <summary>
/// An in-memory Kubernetes API behind an <see cref="HttpMessageHandler"/>, for controller unit tests (client-go's fake
/// clientset and object tracker, in small): objects keyed by collection, namespace and name, one resourceVersion
/// counter, list and watch (replaying from a resourceVersion), create (generateName, uid, generation), update with
/// resourceVersion preconditions, merge and strategic merge patches (lists of objects with a <c>type</c> merged by
/// it), status and finalize subresources, pods/binding, and deletion honouring finalizers, propagation policies and
/// uid preconditions. Every write is recorded in <see cref="Actions"/>. No admission, defaulting or validation: the
/// controllers under test are the only actors, and time passes only as tests say.
/// </summary>
public sealed class FakeApi : HttpMessageHandler
{
    private readonly object _gate = new();
    private readonly Dictionary<string, JsonObject> _objects = new(StringComparer.Ordinal);
    private readonly List<(long Rv, string Type, string Collection, string? Ns, JsonObject Obj)> _log = [];
    private readonly List<(string Collection, string? Ns, Channel<byte[]> Events)> _watchers = [];
    private readonly List<string> _actions = [];
    private long _revision = 1;
    private int _names;

    /// <summary>Time stamped on created and deleted objects.</summary>
    public TimeProvider Clock { get; init; } = TimeProvider.System;

    /// <summary>Writes in order, as <c>verb resource namespace/name</c> (e.g. <c>create pods ns/web-x7k2p</c>).</summary>
    public IReadOnlyList<string> Actions
    {
        get
        {
            lock (_gate)
            {
                return [.. _actions];
            }
        }
    }

    /// <summary>Stores an object as is (a test's starting state), stamping what the API server would.</summary>
    public JsonObject Seed(string path, JsonObject obj)
    {
        var t = Target.Parse(path);
        lock (_gate)
        {
            var created = Stamp(t, (JsonObject)obj.DeepClone());
            Put(t.Collection, created, "ADDED");
            return (JsonObject)created.DeepClone();
        }
    }

    /// <summary>The stored object at <paramref name="path"/>, or null.</summary>
    public JsonObject? Get(string path)
    {
        var t = Target.Parse(path);
        lock (_gate)
        {
            return _objects.TryGetValue(t.Key, out var o) ? (JsonObject)o.DeepClone() : null;
        }
    }

    /// <summary>The stored objects of a collection (all namespaces unless the path names one).</summary>
    public List<JsonObject> List(string path)
    {
        var t = Target.Parse(path);
        lock (_gate)
        {
            return [.. Matching(t.Collection, t.Ns).Select(o => (JsonObject)o.DeepClone())];
        }
    }

    /// <summary>Every stored object, one per line (for failure messages).</summary>
    public string Dump()
    {
        lock (_gate)
        {
            return string.Join("\n", _objects.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Value.ToJsonString()));
        }
    }

    /// <summary>Changes a stored object as another actor would (a kubelet reporting status, a user editing).</summary>
    public JsonObject Modify(string path, Action<JsonObject> change)
    {
        var t = Target.Parse(path);
        lock (_gate)
        {
            var obj = (JsonObject)(_objects.GetValueOrDefault(t.Key) ?? throw new InvalidOperationException($"{path} does not exist")).DeepClone();
            change(obj);
            return Commit(t, obj);
        }
    }

    /// <summary>Discovery documents served as they are (<c>/apis</c>, <c>/api/v1</c>, <c>/apis/GROUP/VERSION</c>).</summary>
    public Dictionary<string, JsonObject> Discovery { get; } = new(StringComparer.Ordinal);

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (request.Method == HttpMethod.Get && Discovery.TryGetValue(request.RequestUri!.AbsolutePath, out var document))
        {
            return Ok(document);
        }
        var t = Target.Parse(request.RequestUri!.AbsolutePath);
        var query = HttpUtility.ParseQueryString(request.RequestUri.Query);
        if (query["labelSelector"] is not null || query["fieldSelector"] is not null)
        {
            throw new NotSupportedException("the fake API does not filter by selectors: " + request.RequestUri);
        }
        var body = request.Content is null ? null : JsonNode.Parse(await request.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false)) as JsonObject;
        try
        {
            lock (_gate)
            {
                if (request.Method == HttpMethod.Get)
                {
                    if (query["watch"] is "1" or "true")
                    {
                        return Watch(t, long.Parse(query["resourceVersion"] ?? "0", CultureInfo.InvariantCulture), cancellationToken);
                    }
                    return t.Name is null ? Ok(ListOf(t)) : Ok(Existing(t));
                }
                if (request.Method == HttpMethod.Post)
                {
                    return Ok(t.Sub switch
                    {
                        "binding" => Bind(t, body!),
                        null => Create(t, body!),
                        _ => throw new FakeError(405, "MethodNotAllowed", $"POST {t.Sub} is not faked"),
                    }, HttpStatusCode.Created);
                }
                if (request.Method == HttpMethod.Put)
                {
                    return Ok(Update(t, body!));
                }
                if (request.Method == HttpMethod.Patch)
                {
                    return Ok(Patch(t, body!, request.Content!.Headers.ContentType!.MediaType!));
                }
                if (request.Method == HttpMethod.Delete)
                {
                    return Ok(t.Name is null ? DeleteCollection(t) : Delete(t, body));
                }
            }
            throw new FakeError(405, "MethodNotAllowed", request.Method + " is not faked");
        }
        catch (Exception e) when (e is not FakeError)
        {
            lock (_gate)
            {
                _actions.Add($"FAILED {request.Method} {request.RequestUri}: {e}");
            }
            throw;
        }
        catch (FakeError e)
        {
            return new HttpResponseMessage((HttpStatusCode)e.Code)
            {
                Content = new StringContent(new JsonObject
                {
                    ["kind"] = "Status",
                    ["apiVersion"] = "v1",
                    ["status"] = "Failure",
                    ["reason"] = e.Reason,
                    ["message"] = e.Message,
                    ["code"] = e.Code,
                }.ToJsonString(), Encoding.UTF8, "application/json"),
            };
        }
    }

    private static HttpResponseMessage Ok(JsonObject obj, HttpStatusCode code = HttpStatusCode.OK) =>
        new(code) { Content = new StringContent(obj.ToJsonString(), Encoding.UTF8, "application/json") };

    private JsonObject Existing(Target t) =>
        (JsonObject)(_objects.GetValueOrDefault(t.Key) ?? throw FakeError.NotFound(t)).DeepClone();

    private IEnumerable<JsonObject> Matching(string collection, string? ns) =>
        _objects.Where(kv => kv.Key.StartsWith(collection + "/", StringComparison.Ordinal) && (ns is null || kv.Value["metadata"]?["namespace"]?.GetValue<string>() == ns))
            .OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Value);

    private JsonObject ListOf(Target t) => new()
    {
        ["kind"] = "List",
        ["apiVersion"] = "v1",
        ["metadata"] = new JsonObject { ["resourceVersion"] = _revision.ToString(CultureInfo.InvariantCulture) },
        ["items"] = new JsonArray([.. Matching(t.Collection, t.Ns).Select(o => (JsonNode)o.DeepClone())]),
    };

    private HttpResponseMessage Watch(Target t, long from, CancellationToken ct)
    {
        var events = Channel.CreateUnbounded<byte[]>();
        foreach (var e in _log.Where(e => e.Rv > from && e.Collection == t.Collection && (t.Ns is null || e.Ns == t.Ns)))
        {
            events.Writer.TryWrite(Line(e.Type, e.Obj));
        }
        var watcher = (t.Collection, t.Ns, events);
        _watchers.Add(watcher);
        ct.Register(() =>
        {
            lock (_gate)
            {
                _watchers.Remove(watcher);
            }
            events.Writer.TryComplete();
        });
        return new HttpResponseMessage(HttpStatusCode.OK) { Content = new StreamContent(new ChannelStream(events.Reader)) };
    }

    private static byte[] Line(string type, JsonObject obj) =>
        Encoding.UTF8.GetBytes(new JsonObject { ["type"] = type, ["object"] = obj.DeepClone() }.ToJsonString() + "\n");

    private JsonObject Stamp(Target t, JsonObject obj)
    {
        var meta = obj["metadata"] as JsonObject ?? [];
        obj["metadata"] = meta;
        if (meta["name"] is null)
        {
            var prefix = meta["generateName"]?.GetValue<string>() ?? throw new FakeError(422, "Invalid", "metadata.name: Required value");
            meta["name"] = prefix + (++_names).ToString("x5", CultureInfo.InvariantCulture);
        }
        if (t.Ns is not null)
        {
            meta["namespace"] = t.Ns;
        }
        meta["uid"] ??= Guid.NewGuid().ToString();
        meta["creationTimestamp"] ??= Now();
        meta["generation"] ??= 1;
        return obj;
    }

    private string Now() => Clock.GetUtcNow().UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private JsonObject Create(Target t, JsonObject body)
    {
        var obj = Stamp(t, body);
        var key = t.With(obj["metadata"]!["name"]!.GetValue<string>()).Key;
        if (_objects.ContainsKey(key))
        {
            throw new FakeError(409, "AlreadyExists", $"{t.Plural} \"{obj["metadata"]!["name"]}\" already exists");
        }
        Record("create", t, obj);
        return Put(t.Collection, obj, "ADDED");
    }

    private JsonObject Bind(Target t, JsonObject binding)
    {
        var pod = Existing(t);
        if (pod["spec"]?["nodeName"] is JsonValue bound && bound.GetValue<string>().Length > 0)
        {
            throw new FakeError(409, "Conflict", $"pod {t.Name} is already assigned to node \"{bound}\"");
        }
        pod["spec"]!["nodeName"] = binding["target"]!["name"]!.DeepClone();
        Record("bind", t, pod);
        Put(t.Collection, pod, "MODIFIED");
        return new JsonObject { ["kind"] = "Status", ["apiVersion"] = "v1", ["status"] = "Success", ["code"] = 201 };
    }

    private JsonObject Update(Target t, JsonObject body)
    {
        var stored = Existing(t);
        CheckVersion(t, stored, body);
        JsonObject next;
        if (t.Sub == "finalize")
        {
            next = stored;
            next["spec"]!["finalizers"] = body["spec"]?["finalizers"]?.DeepClone() ?? new JsonArray();
        }
        else
        {
            next = Merge(stored, body, t.Sub);
        }
        Record(t.Sub is null ? "update" : "update " + t.Sub, t, next);
        return Commit(t, next);
    }

    private static void CheckVersion(Target t, JsonObject stored, JsonObject body)
    {
        var rv = body["metadata"]?["resourceVersion"]?.GetValue<string>();
        if (!string.IsNullOrEmpty(rv) && rv != stored["metadata"]!["resourceVersion"]!.GetValue<string>())
        {
            throw new FakeError(409, "Conflict", $"Operation cannot be fulfilled on {t.Plural} \"{t.Name}\": the object has been modified; please apply your changes to the latest version and try again");
        }
    }

    private JsonObject Patch(Target t, JsonObject patch, string mediaType)
    {
        var stored = Existing(t);
        // A resourceVersion in a patch is a precondition, as upstream.
        CheckVersion(t, stored, patch);
        var patched = (JsonObject)stored.DeepClone();
        MergePatch(patched, patch, mediaType == "application/strategic-merge-patch+json");
        Record(t.Sub is null ? "patch" : "patch " + t.Sub, t, patched);
        return Commit(t, Merge(stored, patched, t.Sub));
    }

    /// <summary>The next version of an object: a status write changes only status, a main write keeps status (types with a status subresource).</summary>
    private static JsonObject Merge(JsonObject stored, JsonObject body, string? sub)
    {
        if (sub == "status")
        {
            var next = (JsonObject)stored.DeepClone();
            next["status"] = body["status"]?.DeepClone();
            return next;
        }
        var main = (JsonObject)body.DeepClone();
        main["metadata"] = body["metadata"]?.DeepClone() ?? new JsonObject();
        foreach (var fixedField in new[] { "uid", "creationTimestamp", "namespace", "name", "deletionTimestamp", "generation" })
        {
            main["metadata"]!.AsObject().Remove(fixedField);
            if (stored["metadata"]?[fixedField] is { } kept)
            {
                main["metadata"]![fixedField] = kept.DeepClone();
            }
        }
        if (stored["status"] is not null && stored["spec"] is not null)
        {
            main["status"] = stored["status"]!.DeepClone();
        }
        if (!JsonNode.DeepEquals(stored["spec"], main["spec"]))
        {
            main["metadata"]!["generation"] = (stored["metadata"]?["generation"]?.GetValue<long>() ?? 0) + 1;
        }
        return main;
    }

    /// <summary>RFC 7386 merge; with <paramref name="strategic"/>, lists of objects that all have a <c>type</c> merge by it (conditions).</summary>
    private static void MergePatch(JsonObject target, JsonObject patch, bool strategic)
    {
        foreach (var (name, value) in patch)
        {
            if (value is null)
            {
                target.Remove(name);
            }
            else if (value is JsonObject child && target[name] is JsonObject existing)
            {
                MergePatch(existing, child, strategic);
            }
            else if (strategic && value is JsonArray items && target[name] is JsonArray current
                && items.All(i => i?["type"] is not null) && current.All(i => i?["type"] is not null))
            {
                foreach (var item in items.OfType<JsonObject>())
                {
                    var match = current.OfType<JsonObject>().FirstOrDefault(c => c["type"]!.GetValue<string>() == item["type"]!.GetValue<string>());
                    if (match is null)
                    {
                        current.Add(item.DeepClone());
                    }
                    else
                    {
                        MergePatch(match, item, strategic);
                    }
                }
            }
            else
            {
                target[name] = value.DeepClone();
            }
        }
    }

    private JsonObject Delete(Target t, JsonObject? options)
    {
        var obj = Existing(t);
        var meta = obj["metadata"]!;
        if (options?["preconditions"]?["uid"]?.GetValue<string>() is { } uid && uid != meta["uid"]?.GetValue<string>())
        {
            throw new FakeError(409, "Conflict", $"Precondition failed: UID in precondition: {uid}, UID in object meta: {meta["uid"]}");
        }
        var finalizers = meta["finalizers"] as JsonArray ?? [];
        var policy = options?["propagationPolicy"]?.GetValue<string>();
        var add = policy switch { "Foreground" => "foregroundDeletion", "Orphan" => "orphan", _ => null };
        if (add is not null && meta["deletionTimestamp"] is null && finalizers.All(f => f?.GetValue<string>() != add))
        {
            finalizers.Add(add);
        }
        Record("delete", t, obj);
        if (finalizers.Count == 0)
        {
            return Remove(t, obj);
        }
        meta["finalizers"] = finalizers;
        meta["deletionTimestamp"] ??= Now();
        return Put(t.Collection, obj, "MODIFIED");
    }

    private JsonObject DeleteCollection(Target t)
    {
        _actions.Add($"deletecollection {t.Plural} {t.Ns}");
        foreach (var obj in Matching(t.Collection, t.Ns).ToList())
        {
            Delete(t.With(obj["metadata"]!["name"]!.GetValue<string>()), null);
        }
        return ListOf(t);
    }

    /// <summary>Stores a changed object; one being deleted whose last finalizer went is removed.</summary>
    private JsonObject Commit(Target t, JsonObject obj)
    {
        var meta = obj["metadata"]!;
        if (meta["deletionTimestamp"] is not null && (meta["finalizers"] as JsonArray ?? []).Count == 0
            && !(t.Plural == "namespaces" && (obj["spec"]?["finalizers"] as JsonArray ?? []).Count > 0))
        {
            return Remove(t, obj);
        }
        return Put(t.Collection, obj, "MODIFIED");
    }

    private JsonObject Remove(Target t, JsonObject obj)
    {
        _objects.Remove(t.Key);
        obj["metadata"]!["resourceVersion"] = (++_revision).ToString(CultureInfo.InvariantCulture);
        Publish(t.Collection, obj, "DELETED");
        return obj;
    }

    private JsonObject Put(string collection, JsonObject obj, string type)
    {
        obj["metadata"]!["resourceVersion"] = (++_revision).ToString(CultureInfo.InvariantCulture);
        // Stored as a server would send it: numbers read back as any numeric type, as from the wire.
        obj = JsonNode.Parse(obj.ToJsonString())!.AsObject();
        _objects[$"{collection}/{obj["metadata"]?["namespace"]}/{obj["metadata"]!["name"]}"] = obj;
        Publish(collection, obj, type);
        return (JsonObject)obj.DeepClone();
    }

    private void Publish(string collection, JsonObject obj, string type)
    {
        var ns = obj["metadata"]?["namespace"]?.GetValue<string>();
        var copy = (JsonObject)obj.DeepClone();
        _log.Add((_revision, type, collection, ns, copy));
        foreach (var (c, n, events) in _watchers)
        {
            if (c == collection && (n is null || n == ns))
            {
                events.Writer.TryWrite(Line(type, copy));
            }
        }
    }

    private void Record(string verb, Target t, JsonObject obj) =>
        _actions.Add($"{verb} {t.Plural} {(obj["metadata"]?["namespace"] is { } ns ? ns + "/" : string.Empty)}{obj["metadata"]?["name"]}");

    /// <summary>A request path: <c>/api/v1[/namespaces/NS]/PLURAL[/NAME[/SUB]]</c> or the <c>/apis/GROUP/VERSION/…</c> form.</summary>
    private sealed record Target(string Group, string Plural, string? Ns, string? Name, string? Sub)
    {
        public string Collection => Group + "/" + Plural;

        public string Key => $"{Collection}/{Ns}/{Name}";

        public Target With(string name) => this with { Name = name };

        public static Target Parse(string path)
        {
            var segs = path.Trim('/').Split('/');
            var (group, i) = segs[0] == "api" ? (string.Empty, 2) : (segs[1], 3);
            string? ns = null;
            var namespaceItself = segs.Length == i + 3 && segs[i] == "namespaces" && segs[i + 2] is "status" or "finalize";
            if (segs.Length > i + 2 && segs[i] == "namespaces" && !namespaceItself)
            {
                ns = segs[i + 1];
                i += 2;
            }
            return new Target(group, segs[i], ns, segs.Length > i + 1 ? segs[i + 1] : null, segs.Length > i + 2 ? segs[i + 2] : null);
        }
    }

    private sealed class FakeError(int code, string reason, string message) : Exception(message)
    {
        public int Code { get; } = code;

        public string Reason { get; } = reason;

        public static FakeError NotFound(Target t) => new(404, "NotFound", $"{t.Plural} \"{t.Name}\" not found");
    }

    /// <summary>A watch response body fed by a channel of event lines.</summary>
    private sealed class ChannelStream(ChannelReader<byte[]> events) : Stream
    {
        private ReadOnlyMemory<byte> _pending;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_pending.IsEmpty)
            {
                if (!await events.WaitToReadAsync(cancellationToken).ConfigureAwait(false) || !events.TryRead(out var next))
                {
                    return 0;
                }
                _pending = next;
            }
            var n = Math.Min(buffer.Length, _pending.Length);
            _pending[..n].CopyTo(buffer);
            _pending = _pending[n..];
            return n;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count).GetAwaiter().GetResult();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
