using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using Tugboat.Api.Apply;
using Tugboat.Api.Meta;
using Tugboat.Api.Patch;
using Tugboat.Api.Protobuf;
using Tugboat.Api.Schema;
using Tugboat.Api.Serialization;
using Tugboat.ApiServer.Http;
using Tugboat.ApiServer.Registry;
using Tugboat.ApiServer.NodeProxy;
using Tugboat.ApiServer.Security;
using Tugboat.Storage;
using static Tugboat.ApiServer.Handlers.Bodies;
using static Tugboat.ApiServer.Handlers.Patches;
using static Tugboat.ApiServer.Handlers.Queries;
using static Tugboat.ApiServer.Handlers.Responses;

namespace Tugboat.ApiServer.Handlers;

/// <summary>
/// A resource request once it is authenticated, admitted by flow control and authorized: chooses the verb's handler
/// (get, list, watch, create, update, patch, apply, delete, deletecollection) or the subresource's REST object.
/// </summary>
internal sealed class ResourceHandler(Registry.Registry registry, KubeletClient kubelets)
{
    private readonly ListHandler _list = new(registry);
    private readonly WatchHandler _watch = new(registry, kubelets.Stopping);
    private readonly ApplyHandler _apply = new(registry);
    private readonly DeleteHandler _delete = new(registry);
    private readonly PodBinding _binding = new(registry);
    private readonly PodEviction _eviction = new(registry);
    private readonly NamespaceFinalize _finalize = new(registry);
    private readonly PodLogs _logs = new(kubelets);
    private readonly PodExec _exec = new(kubelets);
    private readonly PodPortForward _portForward = new(registry, kubelets);
    private readonly MetricsApi _metrics = new(registry, kubelets);

    public async Task HandleAsync(HttpContext http, RequestInfo req)
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
            await _metrics.MetricsAsync(http, rt, req.Namespace, req.Name).ConfigureAwait(false);
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
                        await _watch.WatchAsync(http, served, req.Namespace, options).ConfigureAwait(false);
                    }
                    else
                    {
                        await _list.ListAsync(http, served, req.Namespace, options).ConfigureAwait(false);
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
                    await _delete.DeleteCollectionAsync(http, served, req.Namespace, dryRun).ConfigureAwait(false);
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
                    await _watch.WatchAsync(http, served, req.Namespace, options).ConfigureAwait(false);
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
                    await _apply.ApplyAsync(http, served, req.Namespace, req.Name, string.Empty, dryRun).ConfigureAwait(false);
                    return;
                }
                var apply = Converted(served, await ReadPatchAsync(http, served, string.Empty).ConfigureAwait(false));
                var patched = await registry.PatchAsync(rt, req.Namespace, req.Name, apply, string.Empty, dryRun, ct, Owner(http, served)).ConfigureAwait(false);
                await WriteEntryAsync(http, 200, served, patched).ConfigureAwait(false);
                return;
            }
            case "DELETE":
                await _delete.DeleteAsync(http, served, req.Namespace, req.Name, dryRun).ConfigureAwait(false);
                return;
            default:
                throw ApiException.MethodNotAllowed("the server does not allow this method on the requested resource");
        }
    }

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
                        await _apply.ApplyAsync(http, served, req.Namespace, name, "status", dryRun).ConfigureAwait(false);
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
                    await _binding.BindAsync(rt, req.Namespace!, name, binding, dryRun, ct).ConfigureAwait(false);
                    await WriteSuccessAsync(http, 201).ConfigureAwait(false);
                    return;
                }
                break;
            case "eviction" when rt.Group.Length == 0 && rt.Kind == "Pod":
                if (method == "POST")
                {
                    var eviction = await ReadObjectAsync(http, "Eviction", checkKind: false).ConfigureAwait(false);
                    await _eviction.EvictAsync(rt, req.Namespace!, name, eviction, dryRun, ct).ConfigureAwait(false);
                    await WriteSuccessAsync(http, 201).ConfigureAwait(false);
                    return;
                }
                break;
            case "finalize" when rt.Group.Length == 0 && rt.Kind == "Namespace":
                if (method == "PUT")
                {
                    var body = await ReadObjectAsync(http, "Namespace").ConfigureAwait(false);
                    await WriteEntryAsync(http, 200, rt, await _finalize.FinalizeAsync(name, body, dryRun, ct).ConfigureAwait(false)).ConfigureAwait(false);
                    return;
                }
                break;
            case "log" when rt.Group.Length == 0 && rt.Kind == "Pod":
                if (method == "GET")
                {
                    await _logs.LogAsync(http, rt, req.Namespace!, name).ConfigureAwait(false);
                    return;
                }
                break;
            case "exec" or "attach" when rt.Group.Length == 0 && rt.Kind == "Pod":
                if (method is "GET" or "POST")
                {
                    await _exec.ExecAsync(http, rt, req.Namespace!, name, req.Subresource).ConfigureAwait(false);
                    return;
                }
                break;
            case "portforward" when rt.Group.Length == 0 && rt.Kind == "Pod":
                if (method is "GET" or "POST")
                {
                    await _portForward.PortForwardAsync(http, rt, req.Namespace!, name).ConfigureAwait(false);
                    return;
                }
                break;
            case var sub when NotBuilt(rt, sub) is { } why:
                throw new ApiException(501, "NotImplemented", $"{rt.Plural}/{sub} is not available on this server yet: {why}");
            default:
                throw ApiException.NotFoundPath();
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
}
