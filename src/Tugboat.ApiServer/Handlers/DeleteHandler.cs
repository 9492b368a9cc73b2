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
using Tugboat.Storage;
using static Tugboat.ApiServer.Handlers.Bodies;
using static Tugboat.ApiServer.Handlers.Patches;
using static Tugboat.ApiServer.Handlers.Queries;
using static Tugboat.ApiServer.Handlers.Responses;

namespace Tugboat.ApiServer.Handlers;

/// <summary>DELETE of one object (answered with the object or a Status, as upstream per kind) and of a collection.</summary>
internal sealed class DeleteHandler(Registry.Registry registry)
{
    /// <summary>
    /// Deletes one object. Pods, services and namespaces answer with the object (as upstream's do); other kinds answer
    /// with a Status once the object is gone, and with the object while finalizers or a grace period hold it.
    /// </summary>
    public async Task DeleteAsync(HttpContext http, ResourceType served, string? ns, string name, bool dryRun)
    {
        var rt = served.StoredAs ?? served;
        var query = http.Request.Query;
        var ct = http.RequestAborted;
        var body = await ReadOptionalObjectAsync(http).ConfigureAwait(false);
        var options = Registry.DeleteOptions.From(body, k => query.TryGetValue(k, out var v) ? v.ToString() : null, dryRun);
        var outcome = await registry.DeleteAsync(rt, ns, name, options, ct).ConfigureAwait(false);
        if (outcome.Deleted && !ReturnsDeletedObject(rt))
        {
            var obj = ObjectCodec.Decode(outcome.Entry);
            var details = new JsonObject { ["name"] = name };
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
    }

    /// <summary>
    /// DELETE of a collection: every object the selectors match, each as one delete; one refused item does not spare the
    /// others, and the answer is the first refusal or the list of what was deleted.
    /// </summary>
    public async Task DeleteCollectionAsync(HttpContext http, ResourceType rt, string? ns, bool dryRun)
    {
        var query = http.Request.Query;
        var body = await ReadOptionalObjectAsync(http).ConfigureAwait(false);
        var deleteOptions = Registry.DeleteOptions.From(body, k => query.TryGetValue(k, out var v) ? v.ToString() : null, dryRun);
        var options = ParseListOptions(query) with { Limit = 0, Continue = null };
        var stored = rt.StoredAs ?? rt;
        var list = await registry.ListAsync(stored, ns, options, http.RequestAborted).ConfigureAwait(false);
        var deleted = new List<StoreEntry>();
        ApiException? refused = null;
        foreach (var e in list.Items)
        {
            var obj = JsonLimits.Parse(e.Value.Span)!;
            try
            {
                var outcome = await registry.DeleteAsync(stored, obj.Str("metadata", "namespace"), obj.Str("metadata", "name")!, deleteOptions, http.RequestAborted).ConfigureAwait(false);
                deleted.Add(outcome.Entry);
            }
            catch (ApiException ex) when (ex.Code == 404)
            {
            }
            catch (ApiException ex)
            {
                // As upstream, one refused item (a system namespace, a failed precondition) does not spare the others;
                // the collection answers with the first refusal.
                refused ??= ex;
            }
        }
        if (refused is not null)
        {
            throw refused;
        }
        http.Response.StatusCode = 200;
        http.Response.ContentType = MediaTypes.Json;
        var writer = http.Response.BodyWriter;
        writer.Write(Encoding.UTF8.GetBytes($"{{\"kind\":\"{rt.ListKind}\",\"apiVersion\":\"{rt.ApiVersion}\",\"metadata\":{{\"resourceVersion\":\"{registry.Store.CurrentRevision}\"}},\"items\":["));
        for (var i = 0; i < deleted.Count; i++)
        {
            if (i > 0)
            {
                writer.Write(","u8);
            }
            WriteStored(writer, rt, deleted[i].Value, deleted[i].ModRevision);
        }
        writer.Write("]}"u8);
        await writer.FlushAsync(http.RequestAborted).ConfigureAwait(false);
    }

    private static bool ReturnsDeletedObject(ResourceType rt) => rt.Group.Length == 0 && rt.Kind is "Pod" or "Service" or "Namespace";
}
