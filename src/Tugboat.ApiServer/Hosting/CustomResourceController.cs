using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Tugboat.ApiServer.Registry;
using Tugboat.ApiServer.Registry.Strategies;

namespace Tugboat.ApiServer.Hosting;

/// <summary>
/// Serves the resources that CustomResourceDefinitions define: registers one resource type per served version,
/// reports the definition's status (NamesAccepted, Established, storedVersions), and when a definition is deleted,
/// deletes its objects and then lets the definition go. Works through the registry, like any other client.
/// </summary>
internal sealed partial class CustomResourceController(Registry.Registry registry, ILogger<CustomResourceController> logger) : BackgroundService
{
    private readonly HashSet<string> _served = new(StringComparer.Ordinal);

    private ResourceType CrdType => registry.Catalog.Get("apiextensions.k8s.io", "CustomResourceDefinition");

    /// <summary>Serves every stored definition; returns the revision the listing was read at.</summary>
    public async Task<long> SyncAllAsync(CancellationToken ct)
    {
        var list = await registry.ListAsync(CrdType, null, new ListOptions(), ct).ConfigureAwait(false);
        var present = new HashSet<string>(StringComparer.Ordinal);
        foreach (var entry in list.Items)
        {
            var crd = ObjectCodec.Decode(entry);
            present.Add(crd.Str("metadata", "name")!);
            await ReconcileAsync(crd, ct).ConfigureAwait(false);
        }
        foreach (var gone in _served.Where(n => !present.Contains(n)).ToList())
        {
            Unserve(gone);
        }
        return list.Revision;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var revision = await SyncAllAsync(stoppingToken).ConfigureAwait(false);
                var options = new ListOptions { ResourceVersion = revision.ToString(CultureInfo.InvariantCulture) };
                await foreach (var e in registry.WatchAsync(CrdType, null, options, stoppingToken).ConfigureAwait(false))
                {
                    if (e.Type == "ERROR")
                    {
                        break;
                    }
                    if (e.Type == "BOOKMARK")
                    {
                        continue;
                    }
                    var crd = ObjectCodec.Decode(e.Value, e.ResourceVersion);
                    if (e.Type == "DELETED")
                    {
                        Unserve(crd.Str("metadata", "name")!);
                    }
                    else
                    {
                        await ReconcileAsync(crd, stoppingToken).ConfigureAwait(false);
                    }
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                LogFailed(e);
                await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken).ConfigureAwait(false);
            }
        }
    }

    private void Unserve(string name)
    {
        registry.Catalog.RemoveCustom(name);
        _served.Remove(name);
    }

    private async Task ReconcileAsync(JsonObject crd, CancellationToken ct)
    {
        var name = crd.Str("metadata", "name")!;
        var types = TypesFor(crd);
        if (crd.Str("metadata", "deletionTimestamp") is not null)
        {
            await CleanUpAsync(crd, types, ct).ConfigureAwait(false);
            return;
        }
        var group = crd.Str("spec", "group") ?? string.Empty;
        var plural = crd.Str("spec", "names", "plural") ?? string.Empty;
        var conflict = registry.Catalog.IsBuiltin(group, plural);
        if (!conflict)
        {
            registry.Catalog.SetCustom(name, types);
            _served.Add(name);
        }
        await WriteStatusAsync(crd, conflict, ct).ConfigureAwait(false);
    }

    /// <summary>Deletes every object of the definition; once none is left, removes the cleanup finalizer.</summary>
    private async Task CleanUpAsync(JsonObject crd, IReadOnlyList<ResourceType> types, CancellationToken ct)
    {
        var name = crd.Str("metadata", "name")!;
        if (types.Count > 0)
        {
            var rt = types[0];
            var objects = await registry.ListAsync(rt, null, new ListOptions(), ct).ConfigureAwait(false);
            foreach (var entry in objects.Items)
            {
                var obj = ObjectCodec.Decode(entry);
                if (obj.Str("metadata", "deletionTimestamp") is null)
                {
                    try
                    {
                        await registry.DeleteAsync(rt, obj.Str("metadata", "namespace"), obj.Str("metadata", "name")!, new Registry.DeleteOptions(), ct).ConfigureAwait(false);
                    }
                    catch (ApiException e) when (e.Code == 404)
                    {
                    }
                }
            }
            if ((await registry.ListAsync(rt, null, new ListOptions { Limit = 1 }, ct).ConfigureAwait(false)).Items.Count > 0)
            {
                // Objects with finalizers of their own; their deletion brings the definition back here.
                return;
            }
        }
        Unserve(name);
        await registry.PatchAsync(CrdType, null, name, current =>
        {
            if (current.Arr("metadata", "finalizers") is { } finalizers)
            {
                current.Meta()["finalizers"] = new JsonArray(finalizers.Where(f => f?.GetValue<string>() != CustomResourceDefinitionStrategy.CleanupFinalizer).Select(f => f!.DeepClone()).ToArray());
            }
            return current;
        }, string.Empty, dryRun: false, ct).ConfigureAwait(false);
        LogRemoved(name);
    }

    private async Task WriteStatusAsync(JsonObject crd, bool conflict, CancellationToken ct)
    {
        var status = crd.Obj("status") ?? [];
        var names = crd.Obj("spec", "names")?.DeepClone() ?? new JsonObject();
        var storage = crd.Arr("spec", "versions").Objects().FirstOrDefault(v => v.Bool("storage") == true)?.Str("name");
        var stored = status.Arr("storedVersions")?.Select(v => v?.GetValue<string>()).OfType<string>().ToList() ?? [];
        if (storage is not null && !stored.Contains(storage) && !conflict)
        {
            stored.Add(storage);
        }
        var conditions = new JsonArray(
            Condition(status, "NamesAccepted", conflict ? "False" : "True", conflict ? "NameConflict" : "NoConflicts",
                conflict ? $"\"{crd.Str("spec", "names", "plural")}\" is already in use" : "no conflicts found"),
            Condition(status, "Established", conflict ? "False" : "True", conflict ? "NotAccepted" : "InitialNamesAccepted",
                conflict ? "not all names are accepted" : "the initial names have been accepted"));
        var desired = new JsonObject
        {
            ["conditions"] = conditions,
            ["acceptedNames"] = conflict ? new JsonObject { ["plural"] = string.Empty, ["kind"] = string.Empty } : names,
            ["storedVersions"] = new JsonArray(stored.Select(s => (JsonNode)s).ToArray()),
        };
        if (JsonNode.DeepEquals(desired, crd["status"]))
        {
            return;
        }
        var update = (JsonObject)crd.DeepClone();
        update["status"] = desired;
        try
        {
            await registry.UpdateAsync(CrdType, null, crd.Str("metadata", "name")!, update, "status", dryRun: false, ct).ConfigureAwait(false);
        }
        catch (ApiException e) when (e.Code is 404 or 409)
        {
            // Changed or gone meanwhile; its next event brings it back here.
        }
    }

    /// <summary>A condition, keeping its transition time when its status did not change.</summary>
    private JsonObject Condition(JsonObject status, string type, string value, string reason, string message)
    {
        var existing = status.Arr("conditions").Objects().FirstOrDefault(c => c.Str("type") == type);
        var since = existing?.Str("status") == value ? existing.Str("lastTransitionTime") : registry.Now();
        return new JsonObject
        {
            ["type"] = type,
            ["status"] = value,
            ["lastTransitionTime"] = since,
            ["reason"] = reason,
            ["message"] = message,
        };
    }

    /// <summary>The resource types a definition serves: one per served version, the storage version first.</summary>
    public static IReadOnlyList<ResourceType> TypesFor(JsonObject crd)
    {
        var spec = crd.Obj("spec");
        var group = spec.Str("group");
        var names = spec.Obj("names");
        var kind = names.Str("kind");
        var plural = names.Str("plural");
        if (group is null || kind is null || plural is null)
        {
            return [];
        }
        var types = new List<ResourceType>();
        var storageVersion = spec.Arr("versions").Objects().FirstOrDefault(v => v.Bool("storage") == true)?.Str("name");
        foreach (var v in spec.Arr("versions").Objects().OrderByDescending(v => v.Bool("storage") == true))
        {
            if (v.Bool("served") == false || v.Str("name") is not { } version)
            {
                continue;
            }
            var schema = v.Obj("schema", "openAPIV3Schema") ?? new JsonObject { ["type"] = "object", ["x-kubernetes-preserve-unknown-fields"] = true };
            var scale = v.Obj("subresources", "scale");
            static string[] Path(string? p) => (p ?? string.Empty).TrimStart('.').Split('.', StringSplitOptions.RemoveEmptyEntries);
            types.Add(new ResourceType
            {
                Group = group,
                Version = version,
                Kind = kind,
                Plural = plural,
                Singular = names.Str("singular") ?? string.Empty,
                StorageVersion = storageVersion,
                DeprecationWarning = v.Bool("deprecated") == true ? v.Str("deprecationWarning") ?? $"{group}/{version} {kind} is deprecated" : null,
                Namespaced = spec.Str("scope") != "Cluster",
                ShortNames = names.Arr("shortNames")?.Select(s => s?.GetValue<string>()).OfType<string>().ToArray() ?? [],
                Categories = names.Arr("categories")?.Select(s => s?.GetValue<string>()).OfType<string>().ToArray() ?? [],
                HasStatus = v.At("subresources", "status") is not null,
                HasScale = scale is not null,
                IsCustom = true,
                ScaleSpecReplicas = scale is null ? ["spec", "replicas"] : Path(scale.Str("specReplicasPath")),
                ScaleStatusReplicas = scale is null ? ["status", "replicas"] : Path(scale.Str("statusReplicasPath")),
                ScaleSelector = scale?.Str("labelSelectorPath") is { } selector ? Path(selector) : null,
                Strategy = new CustomResourceStrategy((JsonObject)schema.DeepClone(), v.Arr("additionalPrinterColumns")?.DeepClone() as JsonArray, v.At("subresources", "status") is not null),
            });
        }
        return types;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "custom resource definition {Name} removed with its objects")]
    private partial void LogRemoved(string name);

    [LoggerMessage(Level = LogLevel.Warning, Message = "serving custom resource definitions failed; retrying")]
    private partial void LogFailed(Exception e);
}
