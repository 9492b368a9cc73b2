using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Tugboat.Api.Patch;
using Tugboat.ApiServer.Registry;

namespace Tugboat.ApiServer.Http;

/// <summary>
/// OpenAPI v3 documents generated from the catalog: the index at /openapi/v3 and one document per group/version with
/// every path and operation (with upstream's operation ids, parameters and x-kubernetes-* extensions). Clients use them
/// to discover that the server validates fields itself. Object schemas are open (any properties) until the typed
/// schemas are generated from the API model.
/// </summary>
internal sealed class OpenApi
{
    private readonly Dictionary<string, byte[]> _documents = [];
    private readonly byte[] _index;
    private readonly List<JsonObject> _v3 = [];

    public OpenApi(Catalog catalog)
    {
        CatalogVersion = catalog.Version;
        var paths = new JsonObject();
        foreach (var (group, version) in catalog.GroupVersions())
        {
            var key = group.Length == 0 ? $"api/{version}" : $"apis/{group}/{version}";
            var document = Document(catalog, group, version);
            _v3.Add(document);
            var doc = ObjectCodec.ToUtf8(document);
            _documents[key] = doc;
            var hash = Convert.ToHexString(SHA256.HashData(doc))[..32];
            paths[key] = new JsonObject { ["serverRelativeURL"] = $"/openapi/v3/{key}?hash={hash}" };
        }
        _index = ObjectCodec.ToUtf8(new JsonObject { ["paths"] = paths });
        V2 = new OpenApiV2(_v3);
        _v3.Clear();
    }

    public OpenApiV2 V2 { get; }

    public long CatalogVersion { get; }

    public byte[] Index => _index;

    public byte[]? Find(string key) => _documents.GetValueOrDefault(key);

    private static JsonObject Document(Catalog catalog, string group, string version)
    {
        var paths = new JsonObject();
        var schemas = new JsonObject();
        var prefix = group.Length == 0 ? $"/api/{version}" : $"/apis/{group}/{version}";
        foreach (var rt in catalog.All.Where(t => t.Group == group && t.Version == version && !t.IsVirtual))
        {
            var schemaName = AddSchema(schemas, rt.ApiVersion, rt.Kind, rt);
            AddSchema(schemas, rt.ApiVersion, rt.ListKind, rt, list: true);
            var ns = rt.Namespaced ? "/namespaces/{namespace}" : string.Empty;
            var op = OperationSuffix(rt);
            var nsWord = rt.Namespaced ? "Namespaced" : string.Empty;
            var collection = $"{prefix}{ns}/{rt.Plural}";
            var item = collection + "/{name}";
            paths[collection] = new JsonObject
            {
                ["get"] = Operation(rt, $"list{op.Prefix}{nsWord}{rt.Kind}", "list", schemaName + "List", ListParameters()),
                ["post"] = Operation(rt, $"create{op.Prefix}{nsWord}{rt.Kind}", "post", schemaName, WriteParameters()),
                ["delete"] = Operation(rt, $"deletecollection{op.Prefix}{nsWord}{rt.Kind}", "deletecollection", StatusSchema, ListParameters()),
                ["parameters"] = PathParameters(rt.Namespaced, false),
            };
            paths[item] = new JsonObject
            {
                ["get"] = Operation(rt, $"read{op.Prefix}{nsWord}{rt.Kind}", "get", schemaName, []),
                ["put"] = Operation(rt, $"replace{op.Prefix}{nsWord}{rt.Kind}", "put", schemaName, WriteParameters()),
                ["patch"] = Operation(rt, $"patch{op.Prefix}{nsWord}{rt.Kind}", "patch", schemaName, WriteParameters(force: true)),
                ["delete"] = Operation(rt, $"delete{op.Prefix}{nsWord}{rt.Kind}", "delete", StatusSchema, [Query("gracePeriodSeconds", "integer"), Query("propagationPolicy", "string"), Query("dryRun", "string")]),
                ["parameters"] = PathParameters(rt.Namespaced, true),
            };
            if (rt.HasStatus)
            {
                paths[item + "/status"] = new JsonObject
                {
                    ["get"] = Operation(rt, $"read{op.Prefix}{nsWord}{rt.Kind}Status", "get", schemaName, []),
                    ["put"] = Operation(rt, $"replace{op.Prefix}{nsWord}{rt.Kind}Status", "put", schemaName, WriteParameters()),
                    ["patch"] = Operation(rt, $"patch{op.Prefix}{nsWord}{rt.Kind}Status", "patch", schemaName, WriteParameters(force: true)),
                    ["parameters"] = PathParameters(rt.Namespaced, true),
                };
            }
            if (rt.HasScale)
            {
                var scaleGvk = Gvk("autoscaling", "v1", "Scale");
                paths[item + "/scale"] = new JsonObject
                {
                    ["get"] = Operation(rt, $"read{op.Prefix}{nsWord}{rt.Kind}Scale", "get", ScaleSchema, [], scaleGvk),
                    ["put"] = Operation(rt, $"replace{op.Prefix}{nsWord}{rt.Kind}Scale", "put", ScaleSchema, WriteParameters(), scaleGvk),
                    ["patch"] = Operation(rt, $"patch{op.Prefix}{nsWord}{rt.Kind}Scale", "patch", ScaleSchema, WriteParameters(force: true), scaleGvk),
                    ["parameters"] = PathParameters(rt.Namespaced, true),
                };
                AddDefinition(schemas, ScaleSchema);
            }
        }
        AddDefinition(schemas, StatusSchema);
        return new JsonObject
        {
            ["openapi"] = "3.0.0",
            ["info"] = new JsonObject { ["title"] = "Kubernetes", ["version"] = Security.ServerIdentity.KubernetesVersion },
            ["paths"] = paths,
            ["components"] = new JsonObject
            {
                ["schemas"] = schemas,
                ["securitySchemes"] = new JsonObject { ["BearerToken"] = new JsonObject { ["type"] = "apiKey", ["name"] = "authorization", ["in"] = "header" } },
            },
        };
    }

    private static (string Prefix, string Tag) OperationSuffix(ResourceType rt)
    {
        if (rt.Group.Length == 0)
        {
            return ("Core" + Title(rt.Version), "core_" + rt.Version);
        }
        var groupWord = string.Concat(rt.Group.Replace(".k8s.io", string.Empty, StringComparison.Ordinal).Split('.').Select(Title));
        return (groupWord + Title(rt.Version), rt.Group + "_" + rt.Version);
    }

    private static string Title(string s) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..];

    private const string ScaleSchema = "v1.Scale";
    private const string StatusSchema = "v1.Status";

    /// <summary>
    /// Adds the schema of a kind, and every definition it uses, from the API schema table; returns its name. A kind the
    /// table does not know gets an open object schema.
    /// </summary>
    private static string AddSchema(JsonObject schemas, string apiVersion, string kind, ResourceType rt, bool list = false)
    {
        var definition = PatchMeta.Instance.DefinitionOf(apiVersion, kind);
        if (rt.Strategy is Registry.Strategies.CustomResourceStrategy custom)
        {
            // Upstream names custom schemas by the reversed group: widgets.example.com/v1 Widget is com.example.v1.Widget.
            var name = string.Join('.', rt.Group.Split('.').Reverse()) + "." + rt.Version + "." + kind;
            schemas[name] = list
                ? new JsonObject { ["type"] = "object", ["properties"] = new JsonObject { ["items"] = new JsonObject { ["type"] = "array", ["items"] = new JsonObject { ["$ref"] = "#/components/schemas/" + name[..^4] } } } }
                : custom.Schema.DeepClone();
            definition = name;
        }
        else if (definition is null)
        {
            var name = $"{rt.Group}.{rt.Version}.{kind}".TrimStart('.');
            schemas[name] = new JsonObject { ["type"] = "object", ["x-kubernetes-preserve-unknown-fields"] = true };
            definition = name;
        }
        else
        {
            AddDefinition(schemas, definition);
        }
        schemas[definition]!["x-kubernetes-group-version-kind"] = new JsonArray(Gvk(rt.Group, rt.Version, kind));
        return definition;
    }

    private static void AddDefinition(JsonObject schemas, string definition)
    {
        if (schemas.ContainsKey(definition) || PatchMeta.Instance.Fields(definition) is not { } fields)
        {
            return;
        }
        var properties = new JsonObject();
        var schema = new JsonObject { ["type"] = "object", ["properties"] = properties };
        schemas[definition] = schema;
        foreach (var (name, field) in fields.OrderBy(f => f.Key, StringComparer.Ordinal))
        {
            properties[name] = FieldSchema(schemas, field.Shape, field.Item, field);
        }
    }

    private static JsonObject FieldSchema(JsonObject schemas, string type, string? item, PatchField? meta)
    {
        JsonObject schema;
        switch (type)
        {
            case "string" or "integer" or "number" or "boolean":
                schema = new JsonObject { ["type"] = type };
                break;
            case "object" when item is not null:
                AddDefinition(schemas, item);
                schema = new JsonObject { ["allOf"] = new JsonArray(new JsonObject { ["$ref"] = "#/components/schemas/" + item }) };
                break;
            case "list":
                schema = new JsonObject { ["type"] = "array", ["items"] = FieldSchema(schemas, ItemType(item), item, null) };
                break;
            case "map":
                schema = new JsonObject { ["type"] = "object", ["additionalProperties"] = FieldSchema(schemas, ItemType(item), item, null) };
                break;
            default:
                schema = new JsonObject { ["x-kubernetes-preserve-unknown-fields"] = true };
                break;
        }
        if (meta?.MergeKey is { } key)
        {
            schema["x-kubernetes-patch-merge-key"] = key;
        }
        if (meta is { Merge: true } or { RetainKeys: true })
        {
            schema["x-kubernetes-patch-strategy"] = string.Join(",", new[] { meta.Merge ? "merge" : null, meta.RetainKeys ? "retainKeys" : null }.OfType<string>());
        }
        return schema;
    }

    private static string ItemType(string? item) => item switch
    {
        null or "any" => "any",
        "string" or "integer" or "number" or "boolean" => item,
        _ => "object",
    };

    private static JsonObject Gvk(string group, string version, string kind) => new() { ["group"] = group, ["version"] = version, ["kind"] = kind };

    private static JsonObject Operation(ResourceType rt, string operationId, string action, string schema, JsonNode[] parameters, JsonObject? gvk = null)
    {
        var content = new JsonObject
        {
            ["application/json"] = new JsonObject { ["schema"] = new JsonObject { ["$ref"] = "#/components/schemas/" + schema } },
        };
        var op = new JsonObject
        {
            ["tags"] = new JsonArray(OperationSuffix(rt).Tag),
            ["operationId"] = operationId,
            ["parameters"] = new JsonArray(parameters),
            ["responses"] = new JsonObject
            {
                ["200"] = new JsonObject { ["description"] = "OK", ["content"] = content },
                ["401"] = new JsonObject { ["description"] = "Unauthorized" },
            },
            ["x-kubernetes-action"] = action,
            ["x-kubernetes-group-version-kind"] = gvk?.DeepClone() ?? Gvk(rt.Group, rt.Version, rt.Kind),
        };
        if (action is "post" or "put")
        {
            op["requestBody"] = new JsonObject { ["content"] = new JsonObject { ["*/*"] = new JsonObject { ["schema"] = new JsonObject { ["$ref"] = "#/components/schemas/" + schema } } }, ["required"] = true };
        }
        if (action == "patch")
        {
            var obj = new JsonObject { ["schema"] = new JsonObject { ["type"] = "object" } };
            op["requestBody"] = new JsonObject
            {
                ["content"] = new JsonObject
                {
                    ["application/json-patch+json"] = obj.DeepClone(),
                    ["application/merge-patch+json"] = obj.DeepClone(),
                },
                ["required"] = true,
            };
        }
        return op;
    }

    private static JsonArray PathParameters(bool namespaced, bool named)
    {
        var list = new JsonArray();
        if (named)
        {
            list.Add(Path("name"));
        }
        if (namespaced)
        {
            list.Add(Path("namespace"));
        }
        list.Add(Query("pretty", "string"));
        return list;
    }

    private static JsonNode[] ListParameters() =>
    [
        Query("allowWatchBookmarks", "boolean"), Query("continue", "string"), Query("fieldSelector", "string"), Query("labelSelector", "string"),
        Query("limit", "integer"), Query("resourceVersion", "string"), Query("resourceVersionMatch", "string"), Query("timeoutSeconds", "integer"), Query("watch", "boolean"),
    ];

    private static JsonNode[] WriteParameters(bool force = false)
    {
        var list = new List<JsonNode> { Query("dryRun", "string"), Query("fieldManager", "string"), Query("fieldValidation", "string") };
        if (force)
        {
            list.Add(Query("force", "boolean"));
        }
        return [.. list];
    }

    private static JsonObject Query(string name, string type) => new()
    {
        ["name"] = name,
        ["in"] = "query",
        ["schema"] = new JsonObject { ["type"] = type, ["uniqueItems"] = true },
    };

    private static JsonObject Path(string name) => new()
    {
        ["name"] = name,
        ["in"] = "path",
        ["required"] = true,
        ["schema"] = new JsonObject { ["type"] = "string", ["uniqueItems"] = true },
    };
}
