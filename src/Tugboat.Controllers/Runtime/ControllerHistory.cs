using System.Text.Json.Nodes;
using Tugboat.Client;
using static Tugboat.Controllers.Runtime.Owners;

namespace Tugboat.Controllers.Runtime;

/// <summary>
/// The template history of a DaemonSet or StatefulSet as upstream keeps it: one ControllerRevision per distinct pod
/// template, owned by the set, carrying its template as a strategic merge patch that replaces the set's (what
/// <c>kubectl rollout history --revision</c> prints and <c>kubectl rollout undo</c> applies), numbered in the order the
/// templates became current. Going back to an earlier template renumbers its revision as the newest instead of
/// copying it; revisions beyond the set's revisionHistoryLimit that no pod uses are deleted, oldest first.
/// </summary>
public sealed class ControllerHistory(ApiClient client, Informer revisions)
{
    public const string Path = "/apis/apps/v1/controllerrevisions";

    /// <summary>The revision data for a template: <c>{"spec":{"template":{…, "$patch":"replace"}}}</c>, as upstream writes it.</summary>
    public static JsonObject Data(JsonObject template)
    {
        var copy = (JsonObject)template.DeepClone();
        copy["$patch"] = "replace";
        return new JsonObject { ["spec"] = new JsonObject { ["template"] = copy } };
    }

    /// <summary>The revisions <paramref name="owner"/> controls, oldest first.</summary>
    public List<JsonObject> Of(JsonObject owner)
    {
        var ns = Namespace(owner);
        var uid = owner["metadata"]?["uid"]?.GetValue<string>();
        return revisions.List().Where(r => Namespace(r) == ns && ControllerUid(r) == uid).OrderBy(r => Long(r["revision"])).ToList();
    }

    /// <summary>
    /// Makes <paramref name="name"/> (the revision of <paramref name="template"/>) the owner's newest revision: created
    /// when missing, renumbered when it is an older one coming back (a rollback or a re-applied template).
    /// </summary>
    public async Task EnsureNewestAsync(JsonObject owner, string apiVersion, string kind, string name, JsonObject template, IReadOnlyDictionary<string, string> labels, CancellationToken ct)
    {
        var ns = Namespace(owner);
        var mine = Of(owner);
        var newest = mine.Count == 0 ? 0 : Long(mine[^1]["revision"]);
        if (mine.FirstOrDefault(r => Name(r) == name) is { } existing)
        {
            if (Long(existing["revision"]) < newest)
            {
                var renumbered = (JsonObject)existing.DeepClone();
                renumbered["revision"] = newest + 1;
                await client.UpdateAsync($"/apis/apps/v1/namespaces/{ns}/controllerrevisions/{name}", renumbered, ct).ConfigureAwait(false);
            }
            return;
        }
        var labelObject = new JsonObject();
        foreach (var (key, value) in labels)
        {
            labelObject[key] = value;
        }
        try
        {
            await client.CreateAsync($"/apis/apps/v1/namespaces/{ns}/controllerrevisions", new JsonObject
            {
                ["apiVersion"] = "apps/v1",
                ["kind"] = "ControllerRevision",
                ["metadata"] = new JsonObject
                {
                    ["name"] = name,
                    ["namespace"] = ns,
                    ["labels"] = labelObject,
                    // Upstream copies the set's annotations (kubernetes.io/change-cause is what rollout history shows).
                    ["annotations"] = owner["metadata"]?["annotations"]?.DeepClone(),
                    ["ownerReferences"] = new JsonArray(Reference(owner, apiVersion, kind)),
                },
                ["data"] = Data(template),
                ["revision"] = newest + 1,
            }, ct).ConfigureAwait(false);
        }
        catch (ApiError e) when (e.IsAlreadyExists)
        {
            // Created meanwhile (the informer had not seen it yet).
        }
    }

    /// <summary>The pod template a revision records, or null when the revision is gone.</summary>
    public async Task<JsonObject?> TemplateOfAsync(string ns, string name, CancellationToken ct)
    {
        var revision = revisions.Get(ns + "/" + name);
        if (revision is null)
        {
            try
            {
                revision = await client.GetAsync($"/apis/apps/v1/namespaces/{ns}/controllerrevisions/{name}", ct).ConfigureAwait(false);
            }
            catch (ApiError e) when (e.IsNotFound)
            {
                return null;
            }
        }
        if (revision["data"]?["spec"]?["template"]?.DeepClone() is not JsonObject template)
        {
            return null;
        }
        template.Remove("$patch");
        return template;
    }

    /// <summary>Deletes the oldest revisions beyond <c>spec.revisionHistoryLimit</c> (default 10) that are not in <paramref name="live"/>.</summary>
    public async Task TruncateAsync(JsonObject owner, ISet<string> live, CancellationToken ct)
    {
        var limit = (int)Long(owner["spec"]?["revisionHistoryLimit"], 10);
        var historic = Of(owner).Where(r => !live.Contains(Name(r))).ToList();
        foreach (var old in historic.Take(Math.Max(0, historic.Count - limit)))
        {
            try
            {
                await client.DeleteAsync($"/apis/apps/v1/namespaces/{Namespace(old)}/controllerrevisions/{Name(old)}", null, ct).ConfigureAwait(false);
            }
            catch (ApiError e) when (e.IsNotFound)
            {
            }
        }
    }
}
