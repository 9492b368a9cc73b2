using System.Globalization;
using System.Text.Json.Nodes;
using Tugboat.Client;
using Tugboat.Controllers.Runtime;

namespace Tugboat.Controllers.NamespaceLifecycle;

/// <summary>
/// Upstream's namespace controller: when a namespace with the <c>kubernetes</c> finalizer is being deleted, every
/// namespaced collection the API serves (found through discovery, so custom resources too) is emptied — with
/// deletecollection where the resource offers it, one delete per object otherwise, in the background so owners'
/// dependents go as well — and the namespace's deletion conditions say what is left and why. Once nothing is left the
/// finalizer is removed through the <c>finalize</c> subresource, and the API server lets the namespace go.
/// </summary>
public sealed class NamespaceController : IReconciler
{
    /// <summary>The finalizer this controller owns (upstream's <c>FinalizerKubernetes</c>).</summary>
    public const string Finalizer = "kubernetes";

    /// <summary>How long to wait for content held by finalizers before looking again (upstream's estimate, 15 s).</summary>
    private static readonly TimeSpan FinalizerEstimate = TimeSpan.FromSeconds(15);

    private readonly ApiClient _client;
    private readonly Informer _namespaces;

    public NamespaceController(ApiClient client, InformerFactory informers, WorkQueue<string> queue)
    {
        _client = client;
        Queue = queue;
        _namespaces = informers.For("/api/v1/namespaces");
        _namespaces.Added += Changed;
        _namespaces.Updated += (_, ns) => Changed(ns);
    }

    public WorkQueue<string> Queue { get; }

    public IReadOnlyList<Informer> Informers => [_namespaces];

    /// <summary>Clock for condition times; tests may replace it.</summary>
    public TimeProvider Clock { get; init; } = TimeProvider.System;

    private void Changed(JsonObject ns)
    {
        if (ns["metadata"]?["deletionTimestamp"] is not null && HasFinalizer(ns))
        {
            Queue.Add(Informer.KeyOf(ns));
        }
    }

    private static bool HasFinalizer(JsonObject ns) =>
        ns["spec"]?["finalizers"]?.AsArray().Any(f => f?.GetValue<string>() == Finalizer) == true;

    public async Task ReconcileAsync(string key, CancellationToken cancellationToken)
    {
        if (_namespaces.Get(key) is not { } cached || cached["metadata"]?["deletionTimestamp"] is null || !HasFinalizer(cached))
        {
            return;
        }
        JsonObject ns;
        try
        {
            // The cache may lag behind a finalize already done: act on the stored namespace.
            ns = await _client.GetAsync($"/api/v1/namespaces/{key}", cancellationToken).ConfigureAwait(false);
        }
        catch (ApiError e) when (e.IsNotFound)
        {
            return;
        }
        if (ns["metadata"]?["deletionTimestamp"] is null || !HasFinalizer(ns))
        {
            return;
        }
        var conditions = new DeletionConditions();
        var resources = await DiscoverAsync(conditions, cancellationToken).ConfigureAwait(false);
        var wait = TimeSpan.Zero;
        var remaining = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var finalizers = new SortedDictionary<string, int>(StringComparer.Ordinal);
        foreach (var resource in resources)
        {
            try
            {
                var left = await DeleteContentAsync(resource, key, finalizers, cancellationToken).ConfigureAwait(false);
                if (left.Count > 0)
                {
                    remaining[$"{resource.Plural}.{resource.Group}"] = left.Count;
                    wait = Max(wait, left.Wait);
                }
            }
            catch (ApiError e)
            {
                conditions.ContentErrors.Add($"{resource.Plural}.{resource.Group}: {e.Message}");
            }
        }
        conditions.Remaining = remaining;
        conditions.Finalizers = finalizers;
        await UpdateConditionsAsync(ns, conditions, cancellationToken).ConfigureAwait(false);
        if (conditions.ContentErrors.Count > 0 || conditions.DiscoveryErrors.Count > 0)
        {
            throw new InvalidOperationException($"namespace {key}: {conditions.Message()}");
        }
        if (remaining.Count > 0)
        {
            if (finalizers.Count > 0)
            {
                wait = Max(wait, FinalizerEstimate);
            }
            // Upstream looks again after half the estimated time, plus a second.
            Queue.AddAfter(key, wait / 2 + TimeSpan.FromSeconds(1));
            return;
        }
        var kept = new JsonArray(ns["spec"]!["finalizers"]!.AsArray().Where(f => f?.GetValue<string>() != Finalizer).Select(f => f!.DeepClone()).ToArray());
        var finalize = (JsonObject)ns.DeepClone();
        finalize["spec"]!["finalizers"] = kept;
        try
        {
            await _client.UpdateAsync($"/api/v1/namespaces/{key}/finalize", finalize, cancellationToken).ConfigureAwait(false);
        }
        catch (ApiError e) when (e.IsNotFound)
        {
        }
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    /// <summary>A namespaced collection that can be listed and deleted, in its group's preferred version.</summary>
    public sealed record Resource(string Group, string Version, string Plural, bool DeleteCollection)
    {
        public string PathIn(string ns) => (Group.Length == 0 ? $"/api/{Version}" : $"/apis/{Group}/{Version}") + $"/namespaces/{ns}/{Plural}";
    }

    /// <summary>Every namespaced resource the server lists and deletes (upstream's deletable resources), groups that fail discovery noted.</summary>
    private async Task<List<Resource>> DiscoverAsync(DeletionConditions conditions, CancellationToken ct)
    {
        var versions = new List<(string Group, string Version)> { (string.Empty, "v1") };
        var groups = await _client.GetAsync("/apis", ct).ConfigureAwait(false);
        foreach (var g in groups["groups"]?.AsArray().OfType<JsonObject>() ?? [])
        {
            if (g["preferredVersion"]?["version"]?.GetValue<string>() is { } v && g["name"]?.GetValue<string>() is { } name)
            {
                versions.Add((name, v));
            }
        }
        var resources = new List<Resource>();
        foreach (var (group, version) in versions)
        {
            JsonObject list;
            try
            {
                list = await _client.GetAsync(group.Length == 0 ? $"/api/{version}" : $"/apis/{group}/{version}", ct).ConfigureAwait(false);
            }
            catch (ApiError e)
            {
                conditions.DiscoveryErrors.Add($"{(group.Length == 0 ? version : group + "/" + version)}: {e.Message}");
                continue;
            }
            resources.AddRange(Deletable(group, version, list));
        }
        return resources;
    }

    /// <summary>The namespaced, listable and deletable resources (not subresources) of one APIResourceList.</summary>
    public static IEnumerable<Resource> Deletable(string group, string version, JsonObject resourceList)
    {
        foreach (var r in resourceList["resources"]?.AsArray().OfType<JsonObject>() ?? [])
        {
            var name = r["name"]?.GetValue<string>() ?? string.Empty;
            var verbs = r["verbs"]?.AsArray().Select(v => v?.GetValue<string>()).ToHashSet() ?? [];
            if (name.Length == 0 || name.Contains('/', StringComparison.Ordinal) || r["namespaced"]?.GetValue<bool>() != true || !verbs.Contains("list") || !verbs.Contains("delete"))
            {
                continue;
            }
            yield return new Resource(group, version, name, verbs.Contains("deletecollection"));
        }
    }

    /// <summary>Deletes a collection's content in <paramref name="ns"/>; returns what is still there and how long pods among it may take.</summary>
    private async Task<(int Count, TimeSpan Wait)> DeleteContentAsync(Resource resource, string ns, SortedDictionary<string, int> finalizers, CancellationToken ct)
    {
        var path = resource.PathIn(ns);
        var background = new JsonObject { ["apiVersion"] = "v1", ["kind"] = "DeleteOptions", ["propagationPolicy"] = "Background" };
        var (items, _) = await _client.ListAsync(path, null, null, true, ct).ConfigureAwait(false);
        if (items.Count == 0)
        {
            return (0, TimeSpan.Zero);
        }
        if (resource.DeleteCollection)
        {
            await _client.DeleteAsync(path, background, ct).ConfigureAwait(false);
        }
        else
        {
            foreach (var item in items.Where(i => i["metadata"]?["deletionTimestamp"] is null))
            {
                try
                {
                    await _client.DeleteAsync($"{path}/{item["metadata"]?["name"]}", (JsonObject)background.DeepClone(), ct).ConfigureAwait(false);
                }
                catch (ApiError e) when (e.IsNotFound)
                {
                }
            }
        }
        (items, _) = await _client.ListAsync(path, null, null, true, ct).ConfigureAwait(false);
        var wait = TimeSpan.Zero;
        var now = Clock.GetUtcNow().UtcDateTime;
        foreach (var item in items)
        {
            foreach (var f in item["metadata"]?["finalizers"]?.AsArray() ?? [])
            {
                var name = f?.GetValue<string>() ?? string.Empty;
                finalizers[name] = finalizers.GetValueOrDefault(name) + 1;
            }
            // Pods go when their node has stopped them: their deletion time says how long that may take.
            if (resource.Group.Length == 0 && resource.Plural == "pods"
                && DateTime.TryParse(item["metadata"]?["deletionTimestamp"]?.GetValue<string>(), CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var due))
            {
                wait = Max(wait, due - now);
            }
        }
        return (items.Count, wait);
    }

    /// <summary>What one pass found, as upstream's five namespace deletion conditions.</summary>
    public sealed class DeletionConditions
    {
        public List<string> DiscoveryErrors { get; } = [];

        public List<string> ContentErrors { get; } = [];

        public IReadOnlyDictionary<string, int> Remaining { get; set; } = new Dictionary<string, int>();

        public IReadOnlyDictionary<string, int> Finalizers { get; set; } = new Dictionary<string, int>();

        public string Message() => string.Join("; ", DiscoveryErrors.Concat(ContentErrors));

        /// <summary>(type, true when failing, reason, message) for each condition, in upstream's order and words.</summary>
        public IEnumerable<(string Type, bool Failing, string Reason, string Message)> All()
        {
            yield return DiscoveryErrors.Count > 0
                ? ("NamespaceDeletionDiscoveryFailure", true, "DiscoveryFailed", $"Discovery failed for some groups, {DiscoveryErrors.Count} failing: {string.Join(", ", DiscoveryErrors)}")
                : ("NamespaceDeletionDiscoveryFailure", false, "ResourcesDiscovered", "All resources successfully discovered");
            yield return ("NamespaceDeletionGroupVersionParsingFailure", false, "ParsedGroupVersions", "All legacy kube types successfully parsed");
            var content = ContentErrors.Order(StringComparer.Ordinal).ToList();
            yield return content.Count > 0
                ? ("NamespaceDeletionContentFailure", true, "ContentDeletionFailed", $"Failed to delete all resource types, {content.Count} remaining: {string.Join(", ", content)}")
                : ("NamespaceDeletionContentFailure", false, "ContentDeleted", "All content successfully deleted, may be waiting on finalization");
            yield return Remaining.Count > 0
                ? ("NamespaceContentRemaining", true, "SomeResourcesRemain", "Some resources are remaining: " + string.Join(", ", Remaining.Select(r => $"{r.Key} has {r.Value} resource instances").Order(StringComparer.Ordinal)))
                : ("NamespaceContentRemaining", false, "ContentRemoved", "All content successfully removed");
            yield return Finalizers.Count > 0
                ? ("NamespaceFinalizersRemaining", true, "SomeFinalizerRemain", "Some finalizers are remaining: " + string.Join(", ", Finalizers.Select(f => $"{f.Key} in {f.Value} resource instances").Order(StringComparer.Ordinal)))
                : ("NamespaceFinalizersRemaining", false, "ContentRemoved", "All content successfully removed");
        }
    }

    /// <summary>Writes the deletion conditions when they differ from the namespace's (a transition time moves only when the status does).</summary>
    private async Task UpdateConditionsAsync(JsonObject ns, DeletionConditions found, CancellationToken ct)
    {
        if (ns["status"] is not JsonObject status)
        {
            ns["status"] = status = [];
        }
        if (status["conditions"] is not JsonArray conditions)
        {
            status["conditions"] = conditions = [];
        }
        var now = Clock.GetUtcNow().UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
        var changed = false;
        foreach (var (type, failing, reason, message) in found.All())
        {
            var text = failing ? "True" : "False";
            var old = conditions.OfType<JsonObject>().FirstOrDefault(c => c["type"]?.GetValue<string>() == type);
            if (old is null)
            {
                conditions.Add(new JsonObject { ["type"] = type, ["status"] = text, ["lastTransitionTime"] = now, ["reason"] = reason, ["message"] = message });
                changed = true;
            }
            else if (old["status"]?.GetValue<string>() != text || old["reason"]?.GetValue<string>() != reason || old["message"]?.GetValue<string>() != message)
            {
                if (old["status"]?.GetValue<string>() != text)
                {
                    old["lastTransitionTime"] = now;
                }
                old["status"] = text;
                old["reason"] = reason;
                old["message"] = message;
                changed = true;
            }
        }
        if (!changed)
        {
            return;
        }
        try
        {
            var updated = await _client.UpdateAsync($"/api/v1/namespaces/{ns["metadata"]!["name"]}/status", ns, ct).ConfigureAwait(false);
            ns["metadata"]!["resourceVersion"] = updated["metadata"]?["resourceVersion"]?.DeepClone();
        }
        catch (ApiError e) when (e.IsNotFound)
        {
        }
    }
}
