using System.Text.Json.Nodes;
using Tugboat.ApiServer.Registry;

namespace Tugboat.ApiServer.Http;

/// <summary>
/// The Swagger 2.0 document at /openapi/v2, as JSON and in the protobuf form (gnostic's openapi_v2.Document) that
/// older kubectl requests. It is derived from the OpenAPI v3 documents: the same paths, operations, parameters and
/// x-kubernetes-* extensions; definitions stay open until typed schemas are generated.
/// </summary>
internal sealed class OpenApiV2
{
    public const string ProtobufMediaType = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

    public OpenApiV2(IEnumerable<JsonObject> v3Documents)
    {
        var paths = new JsonObject();
        var proto = new ProtoWriter();
        foreach (var doc in v3Documents)
        {
            foreach (var (path, item) in doc["paths"]!.AsObject())
            {
                var v2Item = new JsonObject();
                var protoItem = new ProtoWriter();
                foreach (var (method, field) in new[] { ("get", 2), ("put", 3), ("post", 4), ("delete", 5), ("patch", 8) })
                {
                    if (item![method] is not JsonObject op)
                    {
                        continue;
                    }
                    var (json, bytes) = Operation(op);
                    v2Item[method] = json;
                    protoItem.Message(field, bytes);
                }
                paths[path] = v2Item;
                proto.Message(2, new ProtoWriter().String(1, path).Message(2, protoItem));
            }
        }
        Json = ObjectCodec.ToUtf8(new JsonObject
        {
            ["swagger"] = "2.0",
            ["info"] = new JsonObject { ["title"] = "Kubernetes", ["version"] = Security.ServerIdentity.KubernetesVersion },
            ["paths"] = paths,
            ["definitions"] = new JsonObject(),
        });
        Protobuf = new ProtoWriter()
            .String(1, "2.0")
            .Message(2, new ProtoWriter().String(1, "Kubernetes").String(2, Security.ServerIdentity.KubernetesVersion))
            .Message(8, proto)
            .Message(9, new ProtoWriter())
            .ToArray();
    }

    public byte[] Json { get; }

    public byte[] Protobuf { get; }

    private static (JsonObject Json, ProtoWriter Proto) Operation(JsonObject op)
    {
        var json = new JsonObject
        {
            ["operationId"] = op["operationId"]?.DeepClone(),
            ["consumes"] = new JsonArray("*/*"),
            ["produces"] = new JsonArray("application/json"),
            ["schemes"] = new JsonArray("https"),
            ["tags"] = op["tags"]?.DeepClone(),
        };
        var proto = new ProtoWriter();
        foreach (var tag in op["tags"]?.AsArray() ?? [])
        {
            proto.String(1, tag!.GetValue<string>());
        }
        proto.String(5, op.Str("operationId"));
        var parameters = new JsonArray();
        foreach (var p in op["parameters"]?.AsArray().OfType<JsonObject>() ?? [])
        {
            var name = p.Str("name")!;
            var type = p.Str("schema", "type") ?? "string";
            parameters.Add(new JsonObject { ["uniqueItems"] = true, ["type"] = type, ["description"] = string.Empty, ["name"] = name, ["in"] = "query" });
            var query = new ProtoWriter().String(2, "query").String(4, name).String(6, type).Bool(20, true);
            proto.Message(8, new ProtoWriter().Message(1, new ProtoWriter().Message(2, new ProtoWriter().Message(3, query))));
        }
        json["parameters"] = parameters;
        json["responses"] = new JsonObject { ["200"] = new JsonObject { ["description"] = "OK" } };
        foreach (var (key, value) in op)
        {
            if (!key.StartsWith("x-kubernetes-", StringComparison.Ordinal) || value is null)
            {
                continue;
            }
            json[key] = value.DeepClone();
            var yaml = value is JsonObject o
                ? string.Concat(o.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}: \"{kv.Value}\"\n"))
                : value.ToString() + "\n";
            proto.Message(13, new ProtoWriter().String(1, key).Message(2, new ProtoWriter().String(2, yaml)));
        }
        return (json, proto);
    }
}
