using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Tugboat.E2E.Tests.Fuzzing;

/// <summary>Mutates corpus requests: bytes of the body, JSON values, query parameters, paths, headers and methods.</summary>
public sealed class Mutator(Random random)
{
    private static readonly string[] Methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

    private static readonly string[] ContentTypes =
    [
        "application/json", "application/yaml", "application/json-patch+json", "application/merge-patch+json",
        "application/strategic-merge-patch+json", "application/apply-patch+yaml", "application/apply-patch+cbor",
        "application/vnd.kubernetes.protobuf", "text/plain", "", "application/json; charset=utf-16", "multipart/form-data; boundary=x",
    ];

    private static readonly string[] Accepts =
    [
        "application/json", "application/json;as=Table;v=v1;g=meta.k8s.io", "application/json;as=Table;v=v1beta1;g=meta.k8s.io",
        "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io", "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io",
        "application/vnd.kubernetes.protobuf", "application/vnd.kubernetes.protobuf;stream=watch", "*/*", "application/yaml", "x/y;;;=",
        "application/json;as=Table;g=meta.k8s.io;v=v1, application/json",
    ];

    private static readonly string[] Parameters =
    [
        "watch", "limit", "continue", "resourceVersion", "resourceVersionMatch", "fieldSelector", "labelSelector", "timeoutSeconds",
        "dryRun", "fieldManager", "fieldValidation", "force", "propagationPolicy", "gracePeriodSeconds", "orphanDependents", "pretty",
        "allowWatchBookmarks", "sendInitialEvents", "follow", "container", "command", "ports", "tailLines", "sinceSeconds",
        "limitBytes", "previous", "timestamps", "stdin", "stdout", "tty", "includeObject",
    ];

    private static readonly string[] NastyValues =
    [
        "", "-1", "0", "1", "abc", "99999999999999999999", "9223372036854775807", "-9223372036854775808", "%00", "\0", "a in (",
        "a in (b", "!!", "=====", "a=b=c", "\\", "a\\", ",,,", "true", "True", "All", "Strict", "Foreground", "x,y,z!=", "a notin (b,c),d",
        "spec.nodeName===x", "metadata.name!=a\\,b", "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6LTEsInN0YXJ0IjoiXHUwMDAwIn0", "not-base64!!",
        "1e9", "0x10", "NaN", "∞", "ünï", new string('a', 5000),
    ];

    private static readonly string[] Resources =
    [
        "pods", "configmaps", "secrets", "services", "namespaces", "nodes", "events", "endpoints", "serviceaccounts",
        "deployments", "replicasets", "statefulsets", "daemonsets", "jobs", "cronjobs", "leases", "customresourcedefinitions",
        "fuzzes", "horizontalpodautoscalers", "poddisruptionbudgets", "ingresses", "roles", "clusterroles", "priorityclasses",
        "persistentvolumes", "persistentvolumeclaims", "certificatesigningrequests", "tokenreviews", "selfsubjectaccessreviews", "nope",
    ];

    private static readonly string[] Subresources =
    [
        "status", "scale", "binding", "eviction", "finalize", "log", "exec", "attach", "portforward", "proxy", "ephemeralcontainers",
        "approval", "token", "resize", "nope",
    ];

    private static readonly string[] Prefixes =
    [
        "/api/v1", "/apis/apps/v1", "/apis/batch/v1", "/apis/coordination.k8s.io/v1", "/apis/apiextensions.k8s.io/v1", "/apis/example.com/v1",
        "/apis/autoscaling/v1", "/apis/autoscaling/v2", "/apis/policy/v1", "/apis/apps/v1beta1", "/apis/metrics.k8s.io/v1beta1",
        "/apis/authorization.k8s.io/v1", "/apis/authentication.k8s.io/v1", "/api", "/apis", "/openapi/v2", "/openapi/v3/api/v1",
    ];

    private static readonly byte[] Interesting = "{}[]\":,\\0-e9\n\r\t !$&*<>?@`~"u8.ToArray();

    public FuzzRequest Mutate(FuzzRequest seed)
    {
        var r = seed.Copy();
        var rounds = 1 + random.Next(3);
        for (var i = 0; i < rounds; i++)
        {
            r = random.Next(12) switch
            {
                0 or 1 or 2 => MutateBytes(r),
                3 or 4 or 5 => MutateJson(r),
                6 or 7 => MutateQuery(r),
                8 => MutatePath(r),
                9 or 10 => MutateHeaders(r),
                _ => r with { Method = Pick(Methods) },
            };
        }
        return r;
    }

    private T Pick<T>(IReadOnlyList<T> list) => list[random.Next(list.Count)];

    private FuzzRequest MutateBytes(FuzzRequest r)
    {
        var body = r.Body.ToList();
        switch (random.Next(6))
        {
            case 0 when body.Count > 0:
                body[random.Next(body.Count)] ^= (byte)(1 << random.Next(8));
                break;
            case 1:
                body.InsertRange(random.Next(body.Count + 1), Enumerable.Range(0, 1 + random.Next(8)).Select(_ => Pick(Interesting)));
                break;
            case 2 when body.Count > 0:
            {
                var at = random.Next(body.Count);
                body.RemoveRange(at, Math.Min(body.Count - at, 1 + random.Next(64)));
                break;
            }
            case 3 when body.Count > 0:
            {
                var at = random.Next(body.Count);
                var length = Math.Min(body.Count - at, 1 + random.Next(256));
                body.InsertRange(random.Next(body.Count), body.GetRange(at, length));
                break;
            }
            case 4 when body.Count > 0:
                body = body.Take(random.Next(body.Count)).ToList();
                break;
            default:
                body.InsertRange(random.Next(body.Count + 1), new byte[] { 0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80 }.Take(1 + random.Next(7)));
                break;
        }
        return r with { Body = [.. body] };
    }

    private FuzzRequest MutateJson(FuzzRequest r)
    {
        try
        {
            return MutateJsonValue(r);
        }
        catch (Exception e) when (e is JsonException or ArgumentException or InvalidOperationException)
        {
            // Bodies that are not JSON System.Text.Json can hold (duplicate keys, not JSON at all) get byte mutations.
            return MutateBytes(r);
        }
    }

    private FuzzRequest MutateJsonValue(FuzzRequest r)
    {
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(r.Body, documentOptions: new JsonDocumentOptions { MaxDepth = 4000 });
        }
        catch (JsonException)
        {
            return MutateBytes(r);
        }
        if (root is null)
        {
            return r;
        }
        var nodes = new List<JsonNode>();
        var pending = new Stack<JsonNode>([root]);
        while (pending.TryPop(out var n) && nodes.Count < 5000)
        {
            nodes.Add(n);
            foreach (var child in n is JsonObject o ? o.Select(p => p.Value) : n is JsonArray a ? a : [])
            {
                if (child is not null)
                {
                    pending.Push(child);
                }
            }
        }
        var target = Pick(nodes);
        var replacement = Value();
        switch (target.Parent)
        {
            case JsonObject parent:
            {
                var key = parent.First(p => ReferenceEquals(p.Value, target)).Key;
                if (random.Next(4) == 0)
                {
                    parent.Remove(key);
                    parent[Pick(new[] { "$patch", "$retainKeys", "$setElementOrder/containers", "$deleteFromPrimitiveList/finalizers", "apiVersion", "kind", "metadata", "managedFields", key + "x", "" })] = replacement;
                }
                else
                {
                    parent[key] = replacement;
                }
                break;
            }
            case JsonArray array:
                array[array.IndexOf(target)] = replacement;
                break;
            default:
                root = replacement;
                break;
        }
        return r with { Body = root is null ? "null"u8.ToArray() : Encoding.UTF8.GetBytes(root.ToJsonString(new JsonSerializerOptions { MaxDepth = 4000 })) };
    }

    private JsonNode? Value() => random.Next(18) switch
    {
        0 => null,
        1 => JsonValue.Create(string.Empty),
        2 => JsonValue.Create(-1),
        3 => JsonValue.Create(long.MaxValue),
        4 => JsonValue.Create(1e308),
        5 => JsonValue.Create(new string('x', random.Next(100_000))),
        6 => new JsonArray(),
        7 => new JsonObject(),
        8 => Deep(1 + random.Next(1500)),
        9 => new JsonArray(Enumerable.Range(0, random.Next(20_000)).Select(i => (JsonNode?)JsonValue.Create(i)).ToArray()),
        10 => JsonValue.Create("\u0000\uffff\ud7ff"),
        11 => JsonValue.Create(true),
        12 => JsonValue.Create("a in (b"),
        13 => JsonValue.Create("999999999999999999999Ei"),
        14 => new JsonObject { ["$patch"] = Pick(new[] { "delete", "replace", "merge", "nope" }) },
        15 => new JsonArray(new JsonObject { ["op"] = Pick(new[] { "add", "remove", "copy", "move", "test", "nope" }), ["path"] = Pick(new[] { "", "/", "/a/-", "/metadata/~2", "/spec/containers/99999999999", "/data/-1" }), ["from"] = "/metadata", ["value"] = 1 }),
        16 => JsonValue.Create(Pick(NastyValues)),
        _ => new JsonObject { ["name"] = "c", ["image"] = "i" },
    };

    private static JsonNode Deep(int depth)
    {
        JsonNode node = new JsonArray();
        for (var i = 1; i < depth; i++)
        {
            node = new JsonArray(node);
        }
        return node;
    }

    private FuzzRequest MutateQuery(FuzzRequest r)
    {
        var query = r.Query;
        if (query.Count > 0 && random.Next(2) == 0)
        {
            var i = random.Next(query.Count);
            query[i] = new(query[i].Key, Pick(NastyValues));
        }
        else
        {
            query.Add(new(Pick(Parameters), Pick(NastyValues)));
        }
        return r;
    }

    private FuzzRequest MutatePath(FuzzRequest r)
    {
        var name = Pick(new[] { "cm1", "p1", "d1", "fuzz", "default", "kube-system", "n1", "x", "..", "%2e%2e", "a%2Fb", "UPPER", new string('n', 300), "ünï" });
        var ns = Pick(new[] { "fuzz", "default", "kube-system", "bulk", "missing", ".." });
        var path = random.Next(5) switch
        {
            0 => $"{Pick(Prefixes)}/{Pick(Resources)}",
            1 => $"{Pick(Prefixes)}/namespaces/{ns}/{Pick(Resources)}",
            2 => $"{Pick(Prefixes)}/namespaces/{ns}/{Pick(Resources)}/{name}",
            3 => $"{Pick(Prefixes)}/namespaces/{ns}/{Pick(Resources)}/{name}/{Pick(Subresources)}",
            _ => $"{Pick(Prefixes)}/watch/namespaces/{ns}/{Pick(Resources)}",
        };
        return r with { Path = path };
    }

    private FuzzRequest MutateHeaders(FuzzRequest r)
    {
        var headers = r.Headers;
        switch (random.Next(5))
        {
            case 0:
                headers.RemoveAll(h => h.Key.Equals("Content-Type", StringComparison.OrdinalIgnoreCase));
                headers.Add(new("Content-Type", Pick(ContentTypes)));
                break;
            case 1:
                headers.RemoveAll(h => h.Key.Equals("Accept", StringComparison.OrdinalIgnoreCase));
                headers.Add(new("Accept", Pick(Accepts)));
                break;
            case 2:
                headers.Add(new(Pick(new[] { "Impersonate-User", "Impersonate-Group", "Impersonate-Uid", "Impersonate-Extra-scopes" }), Pick(new[] { "alice", "system:masters", "", "system:serviceaccount:a:b" })));
                break;
            case 3:
                headers.Add(new("Upgrade", Pick(new[] { "websocket", "SPDY/3.1", "h2c", "nope" })));
                headers.Add(new("Sec-WebSocket-Version", "13"));
                headers.Add(new("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="));
                headers.Add(new(Pick(new[] { "Sec-WebSocket-Protocol", "X-Stream-Protocol-Version" }), Pick(new[] { "v5.channel.k8s.io", "v4.channel.k8s.io", "channel.k8s.io", "portforward.k8s.io", "SPDY/3.1+portforward.k8s.io", "nope" })));
                break;
            default:
                headers.Add(new("Accept-Encoding", Pick(new[] { "gzip", "br", "gzip;q=0", "*", "identity" })));
                break;
        }
        return r;
    }
}
