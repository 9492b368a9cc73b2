using Tugboat.Api.Apply;
using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Tugboat.Api.Meta;
using Tugboat.Api.Patch;
using Tugboat.ApiServer.Registry;
using Tugboat.ApiServer.Security;
using Tugboat.Storage;

namespace Tugboat.ApiServer.Http;

/// <summary>
/// Serves the Kubernetes REST API: discovery, health, and every resource path, turning requests into registry calls and
/// results (or <see cref="ApiException"/>s) into upstream-shaped responses.
/// </summary>
internal sealed partial class ApiHandler(Registry.Registry registry, Discovery discovery, ServerIdentity identity, Filters.PriorityAndFairness flowControl, CancellationToken stopping, Microsoft.Extensions.Logging.ILogger<ApiHandler> logger)
{
    private OpenApi? _openApiCache;

    // Built on first use (start-up should not wait for documents only some clients ask for) and again whenever the
    // catalog changes (custom resources come and go).
    private OpenApi CurrentOpenApi
    {
        get
        {
            var cached = _openApiCache;
            if (cached is null || cached.CatalogVersion != registry.Catalog.Version)
            {
                cached = new OpenApi(registry.Catalog);
                _openApiCache = cached;
            }
            return cached;
        }
    }

    public const int MaxBodyBytes = 3 * 1024 * 1024;

    /// <summary>Upstream's bound on the operations of one JSON patch.</summary>
    private const int MaxJsonPatchOperations = 10_000;

    public async Task HandleAsync(HttpContext http)
    {
        try
        {
            if (http.Request.Path.Value == "/cacerts" && http.Request.Method == "GET")
            {
                // Public by design (as k3s's): the CA certificate only; a joining agent verifies it with its token.
                http.Response.ContentType = "text/plain; charset=utf-8";
                await http.Response.WriteAsync(identity.CaPem).ConfigureAwait(false);
                return;
            }
            // The request pipeline: authentication, then flow control (a seat in the request's priority level), then
            // routing; authorization and admission are not built yet (every authenticated user may do everything).
            var user = identity.Authenticate(http) ?? throw new ApiException(401, "Unauthorized", "Unauthorized");
            http.Items[typeof(UserInfo)] = user;
            using var seat = await flowControl.AdmitAsync(user, http).ConfigureAwait(false);
            await RouteAsync(http).ConfigureAwait(false);
        }
        catch (ApiException e)
        {
            await WriteStatusAsync(http, e).ConfigureAwait(false);
        }
        catch (Filters.TooManyRequestsException) when (!http.Response.HasStarted)
        {
            // Upstream's answer, word for word: plain text, and a second to wait (client-go retries after it).
            http.Response.StatusCode = 429;
            http.Response.Headers.RetryAfter = "1";
            http.Response.Headers["X-Content-Type-Options"] = "nosniff";
            http.Response.ContentType = "text/plain; charset=utf-8";
            await http.Response.WriteAsync("Too many requests, please try again later.\n").ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
        }
        catch (Exception e) when (!http.Response.HasStarted)
        {
            // A bug, not bad input: answer as upstream does (500 InternalError) and keep the details in the log.
            LogUnexpected(http.Request.Method, http.Request.Path.Value ?? string.Empty, e);
            await WriteStatusAsync(http, new ApiException(500, "InternalError", "Internal error occurred: " + e.Message)).ConfigureAwait(false);
        }
    }

    [Microsoft.Extensions.Logging.LoggerMessage(Level = Microsoft.Extensions.Logging.LogLevel.Error, Message = "{Method} {Path} failed")]
    private partial void LogUnexpected(string method, string path, Exception e);

    private async Task RouteAsync(HttpContext http)
    {
        var path = http.Request.Path.Value ?? "/";
        var segs = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var method = http.Request.Method;
        switch (segs)
        {
            case ["healthz" or "livez" or "readyz", ..]:
                RequireGet(method);
                http.Response.ContentType = "text/plain; charset=utf-8";
                await http.Response.WriteAsync("ok").ConfigureAwait(false);
                return;
            case ["version"]:
                RequireGet(method);
                await WriteJsonAsync(http, 200, identity.Version()).ConfigureAwait(false);
                return;
            case ["api"]:
                RequireGet(method);
                await WriteJsonAsync(http, 200, discovery.ApiVersions(identity.AdvertiseAddress)).ConfigureAwait(false);
                return;
            case ["apis"]:
                RequireGet(method);
                await WriteJsonAsync(http, 200, discovery.GroupList()).ConfigureAwait(false);
                return;
            case ["api", var v]:
                RequireGet(method);
                await WriteJsonAsync(http, 200, discovery.ResourceList(string.Empty, v) ?? throw NotFoundPath()).ConfigureAwait(false);
                return;
            case ["apis", var g]:
                RequireGet(method);
                await WriteJsonAsync(http, 200, discovery.Group(g) ?? throw NotFoundPath()).ConfigureAwait(false);
                return;
            case ["apis", var g, var v]:
                RequireGet(method);
                await WriteJsonAsync(http, 200, discovery.ResourceList(g, v) ?? throw NotFoundPath()).ConfigureAwait(false);
                return;
            case ["openapi", "v3"]:
                RequireGet(method);
                await WriteBytesAsync(http, CurrentOpenApi.Index).ConfigureAwait(false);
                return;
            case ["openapi", "v3", .. var gv]:
                RequireGet(method);
                await WriteBytesAsync(http, CurrentOpenApi.Find(string.Join('/', gv)) ?? throw NotFoundPath()).ConfigureAwait(false);
                return;
            case ["openapi", "v2"] or ["swagger-2.0.0.pb-v1"] or ["swagger.json"]:
                RequireGet(method);
                var protobuf = segs[0] == "swagger-2.0.0.pb-v1" || http.Request.Headers.Accept.ToString().Contains("protobuf", StringComparison.Ordinal);
                http.Response.StatusCode = 200;
                http.Response.ContentType = protobuf ? OpenApiV2.ProtobufMediaType : MediaTypes.Json;
                await http.Response.BodyWriter.WriteAsync(protobuf ? CurrentOpenApi.V2.Protobuf : CurrentOpenApi.V2.Json, http.RequestAborted).ConfigureAwait(false);
                return;
            case ["api", var v, .. var rest]:
                await ResourceAsync(http, RequestInfo.Parse(registry.Catalog, string.Empty, v, rest) ?? throw NotFoundPath()).ConfigureAwait(false);
                return;
            case ["apis", var g, var v, .. var rest]:
                await ResourceAsync(http, RequestInfo.Parse(registry.Catalog, g, v, rest) ?? throw NotFoundPath()).ConfigureAwait(false);
                return;
            default:
                throw NotFoundPath();
        }
    }

    private static async Task WriteBytesAsync(HttpContext http, byte[] body)
    {
        http.Response.StatusCode = 200;
        http.Response.ContentType = MediaTypes.Json;
        await http.Response.BodyWriter.WriteAsync(body, http.RequestAborted).ConfigureAwait(false);
    }

    private static ApiException NotFoundPath() => new(404, "NotFound", "the server could not find the requested resource");

    private static void RequireGet(string method)
    {
        if (method is not ("GET" or "HEAD"))
        {
            throw ApiException.MethodNotAllowed($"the server does not allow this method on the requested resource");
        }
    }

    private async Task ResourceAsync(HttpContext http, RequestInfo req)
    {
        var method = http.Request.Method;
        // An older version served over another's storage works on the stored type; bodies convert at this edge.
        var served = req.Type;
        var rt = served.StoredAs ?? served;
        var query = http.Request.Query;
        var dryRun = DryRun(query["dryRun"]);
        var ct = http.RequestAborted;
        if (served.DeprecationWarning is { } deprecated)
        {
            http.Response.Headers.Append("Warning", $"299 - \"{deprecated.Replace("\"", "\\\"", StringComparison.Ordinal)}\"");
        }
        if (rt.IsReview)
        {
            if (method != "POST" || req.Name is not null || req.Subresource.Length > 0)
            {
                throw ApiException.MethodNotAllowed("the server does not allow this method on the requested resource");
            }
            var review = CheckFields(http, await ReadObjectAsync(http, served.Kind).ConfigureAwait(false), served);
            await WriteJsonAsync(http, 201, Reviews.Answer(served, review, (UserInfo)http.Items[typeof(UserInfo)]!)).ConfigureAwait(false);
            return;
        }
        if (rt.IsMetrics)
        {
            if (method != "GET" || req.Subresource.Length > 0 || query.ContainsKey("watch"))
            {
                throw ApiException.MethodNotAllowed("the server does not allow this method on the requested resource");
            }
            await MetricsAsync(http, rt, req.Namespace, req.Name).ConfigureAwait(false);
            return;
        }
        // The answer's form is settled before anything is written: a write must not be done and then answered 406.
        if (method is not ("GET" or "HEAD") && req.Subresource is not ("exec" or "attach" or "portforward" or "proxy"))
        {
            MediaTypes.Negotiate(http.Request.Headers.Accept);
        }
        if (req.Subresource.Length > 0)
        {
            await SubresourceAsync(http, req with { Type = served }, dryRun).ConfigureAwait(false);
            return;
        }
        if (req.Name is null)
        {
            switch (method)
            {
                case "GET" or "HEAD":
                    var options = ParseListOptions(http.Request.Query);
                    if (IsTrue(query["watch"]))
                    {
                        await WatchAsync(http, served, req.Namespace, options).ConfigureAwait(false);
                    }
                    else
                    {
                        await ListAsync(http, served, req.Namespace, options).ConfigureAwait(false);
                    }
                    return;
                case "POST":
                    if (rt.Namespaced && req.Namespace is null)
                    {
                        throw ApiException.MethodNotAllowed("the server does not allow this method on the requested resource");
                    }
                    var body = ToStored(served, CheckFields(http, await ReadObjectAsync(http, served.Kind).ConfigureAwait(false), served));
                    var created = await registry.CreateAsync(rt, req.Namespace, body, dryRun, ct, Owner(http, served)).ConfigureAwait(false);
                    await WriteEntryAsync(http, 201, served, created).ConfigureAwait(false);
                    return;
                case "DELETE":
                    await DeleteCollectionAsync(http, served, req.Namespace, dryRun).ConfigureAwait(false);
                    return;
                default:
                    throw ApiException.MethodNotAllowed("the server does not allow this method on the requested resource");
            }
        }
        switch (method)
        {
            case "GET" or "HEAD":
                if (IsTrue(query["watch"]))
                {
                    var options = ParseListOptions(http.Request.Query) with
                    {
                        Fields = FieldSelector.Parse("metadata.name=" + req.Name.Replace(",", "\\,", StringComparison.Ordinal)),
                    };
                    await WatchAsync(http, served, req.Namespace, options).ConfigureAwait(false);
                    return;
                }
                var entry = await registry.GetRequiredAsync(rt, req.Namespace, req.Name, ct).ConfigureAwait(false);
                await WriteEntryAsync(http, 200, served, entry).ConfigureAwait(false);
                return;
            case "PUT":
            {
                var body = ToStored(served, CheckFields(http, await ReadObjectAsync(http, served.Kind).ConfigureAwait(false), served));
                var updated = await registry.UpdateAsync(rt, req.Namespace, req.Name, body, string.Empty, dryRun, ct, Owner(http, served)).ConfigureAwait(false);
                await WriteEntryAsync(http, updated.CreateRevision == updated.ModRevision && updated.ModRevision != 0 && rt.Strategy.AllowCreateOnUpdate ? 201 : 200, served, updated).ConfigureAwait(false);
                return;
            }
            case "PATCH":
            {
                if (ContentType(http) == MediaTypes.ApplyPatch)
                {
                    await ApplyAsync(http, served, req.Namespace, req.Name, string.Empty, dryRun).ConfigureAwait(false);
                    return;
                }
                var apply = Converted(served, await ReadPatchAsync(http, served, string.Empty).ConfigureAwait(false));
                var patched = await registry.PatchAsync(rt, req.Namespace, req.Name, apply, string.Empty, dryRun, ct, Owner(http, served)).ConfigureAwait(false);
                await WriteEntryAsync(http, 200, served, patched).ConfigureAwait(false);
                return;
            }
            case "DELETE":
            {
                var body = await ReadOptionalObjectAsync(http).ConfigureAwait(false);
                var options = Registry.DeleteOptions.From(body, k => query.TryGetValue(k, out var v) ? v.ToString() : null, dryRun);
                var outcome = await registry.DeleteAsync(rt, req.Namespace, req.Name, options, ct).ConfigureAwait(false);
                if (outcome.Deleted && !ReturnsDeletedObject(rt))
                {
                    var obj = ObjectCodec.Decode(outcome.Entry);
                    var details = new JsonObject { ["name"] = req.Name };
                    if (rt.Group.Length > 0)
                    {
                        details["group"] = rt.Group;
                    }
                    details["kind"] = rt.Plural;
                    details["uid"] = obj.Str("metadata", "uid");
                    await WriteJsonAsync(http, 200, new JsonObject
                    {
                        ["kind"] = "Status",
                        ["apiVersion"] = "v1",
                        ["metadata"] = new JsonObject(),
                        ["status"] = "Success",
                        ["details"] = details,
                    }).ConfigureAwait(false);
                }
                else
                {
                    await WriteEntryAsync(http, 200, served, outcome.Entry).ConfigureAwait(false);
                }
                return;
            }
            default:
                throw ApiException.MethodNotAllowed("the server does not allow this method on the requested resource");
        }
    }

    private static JsonObject ToStored(ResourceType served, JsonObject body) => served.Converter?.ToStored(body) ?? body;

    /// <summary>
    /// The field manager of a write: the fieldManager parameter, else (as upstream) the client's user agent up to its
    /// first "/". Upstream allows at most 128 characters.
    /// </summary>
    private static FieldOwner Owner(HttpContext http, ResourceType served)
    {
        var manager = http.Request.Query["fieldManager"].ToString();
        if (manager.Length == 0)
        {
            manager = http.Request.Headers.UserAgent.ToString().Split('/')[0];
            manager = manager.Length > 128 ? manager[..128] : manager;
        }
        else if (manager.Length > 128)
        {
            throw ApiException.Invalid("PatchOptions", "meta.k8s.io", string.Empty, [FieldError.Invalid("fieldManager", manager, "must be less than 128 characters")]);
        }
        if (IsTrue(http.Request.Query["force"]) && ContentType(http) != MediaTypes.ApplyPatch)
        {
            throw ApiException.Invalid("PatchOptions", "meta.k8s.io", string.Empty, [FieldError.Forbidden("force", "may not be specified for non-apply patch")]);
        }
        return new FieldOwner(manager, served.ApiVersion);
    }

    /// <summary>
    /// Server-side apply (PATCH with application/apply-patch+yaml): merges the caller's configuration into the object,
    /// or creates it, and records the caller as the owner of the fields it applied; conflicts with other managers'
    /// fields are 409 unless force=true.
    /// </summary>
    private async Task ApplyAsync(HttpContext http, ResourceType served, string? ns, string name, string subresource, bool dryRun)
    {
        var rt = served.StoredAs ?? served;
        var query = http.Request.Query;
        var manager = query["fieldManager"].ToString();
        if (manager.Length == 0)
        {
            throw ApiException.Invalid("PatchOptions", "meta.k8s.io", string.Empty, [FieldError.Required("fieldManager", "is required for apply patch")]);
        }
        Owner(http, served);
        var force = IsTrue(query["force"]);
        if (DecodeValidated(http, await ReadBodyAsync(http).ConfigureAwait(false), MediaTypes.ApplyPatch) is not JsonObject body)
        {
            throw ApiException.BadRequest("error decoding YAML: the applied configuration must be an object");
        }
        if (body.Str("apiVersion") is not { } apiVersion || body.Str("kind") is not { } kind)
        {
            throw ApiException.BadRequest("Object 'Kind' is missing in the applied configuration, or its apiVersion is missing");
        }
        if (apiVersion != served.ApiVersion || kind != served.Kind)
        {
            throw ApiException.BadRequest($"the applied configuration is a {kind} of {apiVersion}, but the request is for a {served.Kind} of {served.ApiVersion}");
        }
        var config = CheckFields(http, body, served);
        var meta = config["metadata"] as JsonObject ?? new JsonObject();
        config["metadata"] = meta;
        if (meta["managedFields"] is not null)
        {
            throw ApiException.BadRequest("metadata.managedFields must be nil");
        }
        if (meta.Str("name") is { } bodyName && bodyName != name)
        {
            throw ApiException.BadRequest($"the name of the object ({bodyName}) does not match the name on the URL ({name})");
        }
        meta["name"] = name;
        var sub = subresource.Length == 0 ? null : subresource;
        var tracked = rt.TrackedFields(subresource);
        // kubectl's server-side applies upgrade from client-side apply as upstream's do: conflicts with fields of the
        // last-applied-configuration annotation that still hold their applied values are taken over, and the
        // annotation is kept in step with what was applied (so a later client-side apply still works).
        var upgradesClientSideApply = manager == "kubectl";
        JsonObject Apply(JsonObject? live)
        {
            try
            {
                var allowed = upgradesClientSideApply && live is not null ? FieldManager.AllowedByLastApplied(live, served.FieldType, tracked) : null;
                var applied = FieldManager.Apply(live, config, served.FieldType, manager, served.ApiVersion, sub, force, tracked, DateTimeOffset.UtcNow, allowed);
                if (upgradesClientSideApply && applied.Obj("metadata", "annotations") is { } annotations && annotations.ContainsKey(FieldManager.LastAppliedAnnotation))
                {
                    annotations[FieldManager.LastAppliedAnnotation] = LastApplied(config);
                }
                return applied;
            }
            catch (ApplyConflictException e)
            {
                throw new ApiException(409, "Conflict", e.Message)
                {
                    Details = new JsonObject
                    {
                        ["causes"] = new JsonArray(e.Conflicts.Select(c => (JsonNode)new JsonObject
                        {
                            ["reason"] = "FieldManagerConflict",
                            ["message"] = "conflict with " + c.Manager.Describe(),
                            ["field"] = c.Path,
                        }).ToArray()),
                    },
                };
            }
        }
        var ct = http.RequestAborted;
        try
        {
            var patched = await registry.PatchAsync(rt, ns, name, Converted(served, live => Apply(live)), subresource, dryRun, ct).ConfigureAwait(false);
            await WriteEntryAsync(http, 200, served, patched).ConfigureAwait(false);
        }
        catch (ApiException e) when (e.Code == 404 && subresource.Length == 0 && e.Reason == "NotFound")
        {
            var created = await registry.CreateAsync(rt, ns, ToStored(served, Apply(null)), dryRun, ct).ConfigureAwait(false);
            await WriteEntryAsync(http, 201, served, created).ConfigureAwait(false);
        }
    }

    /// <summary>Upstream's buildLastApplied: the applied configuration as JSON, without the annotation itself.</summary>
    private static string LastApplied(JsonObject config)
    {
        var copy = (JsonObject)config.DeepClone();
        if (copy.Obj("metadata", "annotations") is { } annotations)
        {
            annotations.Remove(FieldManager.LastAppliedAnnotation);
        }
        // As kubectl writes it: compact JSON and a newline.
        return ObjectCodec.ToJsonString(copy) + "\n";
    }

    /// <summary>A patch written against a served version, applied to the stored object through the conversion.</summary>
    private static Func<JsonObject, JsonNode?> Converted(ResourceType served, Func<JsonObject, JsonNode?> apply) =>
        served.Converter is not { } converter ? apply : stored => apply(converter.FromStored(stored)) is JsonObject patched ? converter.ToStored(patched) : null;

    private static bool ReturnsDeletedObject(ResourceType rt) => rt.Group.Length == 0 && rt.Kind is "Pod" or "Service" or "Namespace";

    private async Task SubresourceAsync(HttpContext http, RequestInfo req, bool dryRun)
    {
        var served = req.Type;
        var rt = served.StoredAs ?? served;
        var name = req.Name!;
        var method = http.Request.Method;
        var ct = http.RequestAborted;
        switch (req.Subresource)
        {
            case "status" when rt.HasStatus:
                switch (method)
                {
                    case "GET":
                        await WriteEntryAsync(http, 200, served, await registry.GetRequiredAsync(rt, req.Namespace, name, ct).ConfigureAwait(false)).ConfigureAwait(false);
                        return;
                    case "PUT":
                        var body = ToStored(served, CheckFields(http, await ReadObjectAsync(http, served.Kind).ConfigureAwait(false), served));
                        await WriteEntryAsync(http, 200, served, await registry.UpdateAsync(rt, req.Namespace, name, body, "status", dryRun, ct, Owner(http, served)).ConfigureAwait(false)).ConfigureAwait(false);
                        return;
                    case "PATCH" when ContentType(http) == MediaTypes.ApplyPatch:
                        await ApplyAsync(http, served, req.Namespace, name, "status", dryRun).ConfigureAwait(false);
                        return;
                    case "PATCH":
                        var apply = Converted(served, await ReadPatchAsync(http, served, "status").ConfigureAwait(false));
                        await WriteEntryAsync(http, 200, served, await registry.PatchAsync(rt, req.Namespace, name, apply, "status", dryRun, ct, Owner(http, served)).ConfigureAwait(false)).ConfigureAwait(false);
                        return;
                }
                break;
            case "scale" when rt.HasScale:
                switch (method)
                {
                    case "GET":
                        var entry = await registry.GetRequiredAsync(rt, req.Namespace, name, ct).ConfigureAwait(false);
                        await WriteJsonAsync(http, 200, Scale.FromObject(rt, ObjectCodec.Decode(entry))).ConfigureAwait(false);
                        return;
                    case "PUT":
                        var body = CheckFields(http, await ReadObjectAsync(http, "Scale").ConfigureAwait(false), "autoscaling/v1", "Scale");
                        var updated = await Scale.UpdateAsync(registry, rt, req.Namespace, name, body, dryRun, ct, Owner(http, rt)).ConfigureAwait(false);
                        await WriteJsonAsync(http, 200, Scale.FromObject(rt, ObjectCodec.Decode(updated))).ConfigureAwait(false);
                        return;
                    case "PATCH":
                        var apply = await ReadPatchAsync(http, rt, "scale").ConfigureAwait(false);
                        var patched = await registry.PatchAsync(rt, req.Namespace, name, apply, "scale", dryRun, ct, Owner(http, rt)).ConfigureAwait(false);
                        await WriteJsonAsync(http, 200, Scale.FromObject(rt, ObjectCodec.Decode(patched))).ConfigureAwait(false);
                        return;
                }
                break;
            case "binding" when rt.Group.Length == 0 && rt.Kind == "Pod":
                if (method == "POST")
                {
                    var binding = await ReadObjectAsync(http, "Binding", checkKind: false).ConfigureAwait(false);
                    await BindAsync(http, rt, req.Namespace!, name, binding, dryRun).ConfigureAwait(false);
                    return;
                }
                break;
            case "eviction" when rt.Group.Length == 0 && rt.Kind == "Pod":
                if (method == "POST")
                {
                    var eviction = await ReadObjectAsync(http, "Eviction", checkKind: false).ConfigureAwait(false);
                    await EvictAsync(rt, req.Namespace!, name, eviction, dryRun, ct).ConfigureAwait(false);
                    await WriteSuccessAsync(http, 201).ConfigureAwait(false);
                    return;
                }
                break;
            case "finalize" when rt.Group.Length == 0 && rt.Kind == "Namespace":
                if (method == "PUT")
                {
                    var body = await ReadObjectAsync(http, "Namespace").ConfigureAwait(false);
                    await WriteEntryAsync(http, 200, rt, await FinalizeNamespaceAsync(name, body, dryRun, ct).ConfigureAwait(false)).ConfigureAwait(false);
                    return;
                }
                break;
            case "log" when rt.Group.Length == 0 && rt.Kind == "Pod":
                if (method == "GET")
                {
                    await LogAsync(http, rt, req.Namespace!, name).ConfigureAwait(false);
                    return;
                }
                break;
            case "exec" or "attach" when rt.Group.Length == 0 && rt.Kind == "Pod":
                if (method is "GET" or "POST")
                {
                    await ExecAsync(http, rt, req.Namespace!, name, req.Subresource).ConfigureAwait(false);
                    return;
                }
                break;
            case "portforward" when rt.Group.Length == 0 && rt.Kind == "Pod":
                if (method is "GET" or "POST")
                {
                    await PortForwardAsync(http, rt, req.Namespace!, name).ConfigureAwait(false);
                    return;
                }
                break;
            case var sub when NotBuilt(rt, sub) is { } why:
                throw new ApiException(501, "NotImplemented", $"{rt.Plural}/{sub} is not available on this server yet: {why}");
            default:
                throw NotFoundPath();
        }
        throw ApiException.MethodNotAllowed("the server does not allow this method on the requested resource");
    }

    /// <summary>Subresources upstream serves that need parts not built yet, and what they wait for.</summary>
    private static string? NotBuilt(ResourceType rt, string subresource) => (rt.Group, rt.Kind, subresource) switch
    {
        ("", "Pod", "proxy") => "proxying to pods is not built yet",
        ("", "Pod", "ephemeralcontainers" or "resize") => "the node agent does not support ephemeral containers or in-place resize yet",
        ("", "Service" or "Node", "proxy") => "proxying needs service networking and the node agent, which are not built yet",
        ("", "ServiceAccount", "token") => "service account tokens are not issued yet",
        ("certificates.k8s.io", "CertificateSigningRequest", "approval") => "certificate signing is not built yet",
        _ => null,
    };

    private async Task BindAsync(HttpContext http, ResourceType rt, string ns, string name, JsonObject binding, bool dryRun)
    {
        var target = binding.Str("target", "name");
        if (string.IsNullOrEmpty(target))
        {
            throw ApiException.Invalid("Binding", string.Empty, name, [FieldError.Required("target.name")]);
        }
        await registry.PatchAsync(rt, ns, name, pod =>
        {
            var current = pod.Str("spec", "nodeName");
            if (!string.IsNullOrEmpty(current))
            {
                throw ApiException.Conflict("pods/binding", name, $"pod {name} is already assigned to node \"{current}\"");
            }
            if (pod.Str("metadata", "deletionTimestamp") is not null)
            {
                throw ApiException.Conflict("pods/binding", name, $"pod {name} is being deleted, cannot be assigned to a host");
            }
            pod.Ensure("spec")["nodeName"] = target;
            var conditions = pod.Ensure("status")["conditions"] as JsonArray ?? new JsonArray();
            foreach (var c in conditions.Objects().Where(c => c.Str("type") == "PodScheduled").ToList())
            {
                conditions.Remove(c);
            }
            conditions.Add(new JsonObject { ["type"] = "PodScheduled", ["status"] = "True", ["lastProbeTime"] = null, ["lastTransitionTime"] = registry.Now() });
            pod.Ensure("status")["conditions"] = conditions;
            return pod;
        }, "binding", dryRun, http.RequestAborted).ConfigureAwait(false);
        await WriteSuccessAsync(http, 201).ConfigureAwait(false);
    }

    private static Task WriteSuccessAsync(HttpContext http, int code) => WriteJsonAsync(http, code, new JsonObject
    {
        ["kind"] = "Status",
        ["apiVersion"] = "v1",
        ["metadata"] = new JsonObject(),
        ["status"] = "Success",
        ["code"] = code,
    });

    /// <summary>
    /// The eviction subresource, as upstream's: a running pod selected by a PodDisruptionBudget is deleted only when
    /// the budget allows a disruption (which is spent, and the pod recorded in disruptedPods until the disruption
    /// controller sees it go); otherwise 429 TooManyRequests with the budget's numbers. Pods that are not running (or
    /// already being deleted) and pods without a budget are deleted at once; more than one budget is an error.
    /// </summary>
    private async Task EvictAsync(ResourceType rt, string ns, string name, JsonObject eviction, bool dryRun, CancellationToken ct)
    {
        if (eviction.Str("metadata", "name") is { Length: > 0 } evicted && evicted != name)
        {
            throw ApiException.BadRequest("name in URL does not match name in Eviction object");
        }
        var options = DeleteOptions.From(eviction["deleteOptions"] as JsonObject, _ => null, dryRun);
        var pod = ObjectCodec.Decode(await registry.GetRequiredAsync(rt, ns, name, ct).ConfigureAwait(false));
        var running = pod.Str("status", "phase") is not ("Succeeded" or "Failed" or "Pending") && pod.Str("metadata", "deletionTimestamp") is null;
        if (running)
        {
            var budgets = registry.Catalog.Get("policy", "PodDisruptionBudget");
            var labels = pod.Labels();
            var matching = (await registry.Store.ListAsync(budgets.CollectionPrefix(ns), cancellationToken: ct).ConfigureAwait(false)).Items
                .Select(e => ObjectCodec.Decode(e))
                .Where(b => b.Obj("spec", "selector") is { } selector && LabelSelector.FromJson(selector).Matches(labels)).ToList();
            if (matching.Count > 1)
            {
                throw new ApiException(500, "InternalError", "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.");
            }
            if (matching is [var budget])
            {
                var ready = pod.Arr("status", "conditions").Objects().Any(c => c.Str("type") == "Ready" && c.Str("status") == "True");
                var (healthy, desired) = (budget.Long("status", "currentHealthy") ?? 0, budget.Long("status", "desiredHealthy") ?? 0);
                // An unready pod may go while the budget is met anyway (upstream's IfHealthyBudget), without spending it.
                if (ready || healthy < desired || desired == 0)
                {
                    await SpendDisruptionAsync(budgets, ns, budget.Str("metadata", "name")!, name, options.DryRun, ct).ConfigureAwait(false);
                }
            }
        }
        await registry.DeleteAsync(rt, ns, name, options, ct).ConfigureAwait(false);
    }

    private async Task SpendDisruptionAsync(ResourceType budgets, string ns, string budgetName, string podName, bool dryRun, CancellationToken ct)
    {
        static ApiException TooManyRequests(string cause) => new(429, "TooManyRequests", "Cannot evict pod as it would violate the pod's disruption budget.")
        {
            Details = new JsonObject { ["causes"] = new JsonArray(new JsonObject { ["reason"] = "DisruptionBudget", ["message"] = cause }) },
        };
        await registry.PatchAsync(budgets, ns, budgetName, budget =>
        {
            if ((budget.Long("status", "observedGeneration") ?? 0) < (budget.Long("metadata", "generation") ?? 0))
            {
                throw TooManyRequests($"The disruption budget {budgetName} is still being processed by the server.");
            }
            var allowed = budget.Long("status", "disruptionsAllowed") ?? 0;
            if (allowed <= 0)
            {
                throw TooManyRequests($"The disruption budget {budgetName} needs {budget.Long("status", "desiredHealthy") ?? 0} healthy pods and has {budget.Long("status", "currentHealthy") ?? 0} currently");
            }
            var status = budget.Ensure("status");
            status["disruptionsAllowed"] = allowed - 1;
            var disrupted = status["disruptedPods"] as JsonObject ?? [];
            disrupted[podName] = registry.Now();
            status["disruptedPods"] = disrupted;
            return budget;
        }, "status", dryRun, ct).ConfigureAwait(false);
    }

    private async Task<StoreEntry> FinalizeNamespaceAsync(string name, JsonObject body, bool dryRun, CancellationToken ct)
    {
        var rt = registry.Catalog.Get(string.Empty, "Namespace");
        var finalizers = body.Arr("spec", "finalizers")?.DeepClone() ?? new JsonArray();
        return await registry.PatchAsync(rt, null, name, ns =>
        {
            ns.Ensure("spec")["finalizers"] = finalizers;
            return ns;
        }, "finalize", dryRun, ct).ConfigureAwait(false);
    }
}
