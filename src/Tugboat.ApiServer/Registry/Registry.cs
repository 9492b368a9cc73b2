using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Tugboat.Api.Serialization;
using Tugboat.Api.Validation;
using Tugboat.Storage;

namespace Tugboat.ApiServer.Registry;

/// <summary>
/// The generic registry: create, read, update, patch, delete, list and watch for every kind, with upstream's semantics,
/// over <see cref="IStore"/>. Kind-specific behaviour comes from each <see cref="ResourceType"/>'s strategy.
/// </summary>
internal sealed partial class Registry(IStore store, Catalog catalog, TimeProvider? clock = null)
{
    private const string GenerateNameAlphabet = "bcdfghjklmnpqrstvwxz2456789";

    public IStore Store { get; } = store;

    public Catalog Catalog { get; } = catalog;

    public TimeProvider Clock { get; } = clock ?? TimeProvider.System;

    /// <summary>Serialises allocations (cluster IPs, node ports) so that two creates never take the same value.</summary>
    public SemaphoreSlim AllocationLock { get; } = new(1, 1);

    public string Now() => Clock.GetUtcNow().UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private readonly ConcurrentDictionary<string, (long Revision, object Value)> _derived = new(StringComparer.Ordinal);

    /// <summary>
    /// What <paramref name="derive"/> makes of a stored object, kept by key and revision: lookups that every create
    /// makes (its namespace, the priority classes) decode the object again only when it changed. Values are kept as
    /// made, so <typeparamref name="T"/> should be immutable.
    /// </summary>
    public T Derived<T>(StoreEntry entry, Func<JsonObject, T> derive)
        where T : notnull
    {
        if (_derived.TryGetValue(entry.Key, out var known) && known.Revision == entry.ModRevision && known.Value is T value)
        {
            return value;
        }
        value = derive(ObjectCodec.Decode(entry));
        _derived[entry.Key] = (entry.ModRevision, value);
        return value;
    }

    public async Task<StoreEntry?> GetAsync(ResourceType rt, string? ns, string name, CancellationToken ct = default) =>
        await Store.GetAsync(rt.Key(ns, name), 0, ct).ConfigureAwait(false);

    public async Task<StoreEntry> GetRequiredAsync(ResourceType rt, string? ns, string name, CancellationToken ct = default) =>
        await GetAsync(rt, ns, name, ct).ConfigureAwait(false) ?? throw ApiException.NotFound(rt.QualifiedName, name);

    /// <summary>Creates <paramref name="obj"/>; returns the stored entry (for dry runs, an entry with revision 0 that was not stored).</summary>
    public async Task<StoreEntry> CreateAsync(ResourceType rt, string? ns, JsonObject obj, bool dryRun, CancellationToken ct = default, FieldOwner? owner = null)
    {
        CheckTypeMeta(rt, obj);
        var meta = obj.Meta();
        SetNamespace(rt, ns, meta);
        var name = meta.Str("name");
        if (string.IsNullOrEmpty(name))
        {
            var generate = meta.Str("generateName");
            if (!string.IsNullOrEmpty(generate))
            {
                name = generate + RandomSuffix();
                meta["name"] = name;
            }
            else
            {
                throw ApiException.Invalid(rt.Kind, rt.Group, string.Empty, [FieldError.Required("metadata.name", "name or generateName is required")]);
            }
        }
        if (!string.IsNullOrEmpty(meta.Str("resourceVersion")))
        {
            throw new ApiException(500, "InternalError", "Internal error occurred: resourceVersion should not be set on objects to be created")
            {
                Details = new JsonObject { ["causes"] = new JsonArray(new JsonObject { ["message"] = "resourceVersion should not be set on objects to be created" }) },
            };
        }
        if (rt.Namespaced)
        {
            await CheckNamespaceAcceptsAsync(ns!, ct).ConfigureAwait(false);
        }
        meta["uid"] = Guid.NewGuid().ToString();
        meta["creationTimestamp"] = Now();
        meta.Remove("deletionTimestamp");
        meta.Remove("deletionGracePeriodSeconds");
        meta.Remove("selfLink");
        if (rt.Strategy.TracksGeneration)
        {
            meta["generation"] = 1;
        }
        else
        {
            meta.Remove("generation");
        }
        var ctx = new RequestContext { Registry = this, Namespace = ns, DryRun = dryRun };
        rt.Strategy.PrepareForCreate(obj, ctx);
        rt.Strategy.Default(obj);
        Validate(rt, obj, null);
        await rt.Strategy.AllocateAsync(obj, null, ctx).ConfigureAwait(false);
        TrackFields(rt, null, obj, string.Empty, owner);
        var bytes = ObjectCodec.Encode(obj);
        if (dryRun)
        {
            return new StoreEntry(rt.Key(ns, name), bytes, 0, 0);
        }
        var result = await Store.CreateAsync(rt.Key(ns, name), bytes, ct).ConfigureAwait(false);
        if (result.Status == WriteStatus.AlreadyExists)
        {
            throw ApiException.AlreadyExists(rt.QualifiedName, name);
        }
        return result.Entry!;
    }

    private async Task CheckNamespaceAcceptsAsync(string ns, CancellationToken ct)
    {
        var nsType = Catalog.Get(string.Empty, "Namespace");
        var entry = await Store.GetAsync(nsType.Key(null, ns), 0, ct).ConfigureAwait(false)
            ?? throw ApiException.NotFound("namespaces", ns);
        if (Derived(entry, obj => obj.Str("metadata", "deletionTimestamp") is not null || obj.Str("status", "phase") == "Terminating"))
        {
            throw new ApiException(403, "Forbidden", $"unable to create new content in namespace {ns} because it is being terminated")
            {
                Details = new JsonObject
                {
                    ["name"] = ns,
                    ["kind"] = "namespaces",
                    ["causes"] = new JsonArray(new JsonObject
                    {
                        ["reason"] = "NamespaceTerminating",
                        ["message"] = $"namespace {ns} is being terminated",
                        ["field"] = "metadata.namespace",
                    }),
                },
            };
        }
    }

    private static void CheckTypeMeta(ResourceType rt, JsonObject obj)
    {
        var apiVersion = obj.Str("apiVersion");
        var kind = obj.Str("kind");
        if (string.IsNullOrEmpty(kind))
        {
            obj["kind"] = rt.Kind;
            kind = rt.Kind;
        }
        if (string.IsNullOrEmpty(apiVersion))
        {
            obj["apiVersion"] = rt.ApiVersion;
            apiVersion = rt.ApiVersion;
        }
        if (apiVersion != rt.ApiVersion)
        {
            throw ApiException.BadRequest($"the API version in the data ({apiVersion}) does not match the expected API version ({rt.ApiVersion})");
        }
        if (kind != rt.Kind)
        {
            throw ApiException.BadRequest($"{kind} in version \"{apiVersion}\" cannot be handled as a {rt.Kind}: the object's kind does not match the resource in the request path");
        }
    }

    private static void SetNamespace(ResourceType rt, string? ns, JsonObject meta)
    {
        if (rt.Namespaced)
        {
            var bodyNs = meta.Str("namespace");
            if (!string.IsNullOrEmpty(bodyNs) && bodyNs != ns)
            {
                throw ApiException.BadRequest("the namespace of the provided object does not match the namespace sent on the request");
            }
            meta["namespace"] = ns;
        }
        else
        {
            meta.Remove("namespace");
        }
    }

    private static string RandomSuffix()
    {
        Span<char> chars = stackalloc char[5];
        for (var i = 0; i < chars.Length; i++)
        {
            chars[i] = GenerateNameAlphabet[RandomNumberGenerator.GetInt32(GenerateNameAlphabet.Length)];
        }
        return new string(chars);
    }

    /// <param name="keepsStored">A status or binding write, checked by the strategy's subresource checks.</param>
    private static void Validate(ResourceType rt, JsonObject obj, JsonObject? old, bool keepsStored = false)
    {
        var errors = new List<FieldError>();
        ValidateMetadata(rt, obj, errors);
        if (keepsStored)
        {
            rt.Strategy.ValidateSubresource(obj, errors);
        }
        else
        {
            rt.Strategy.Validate(obj, errors);
        }
        if (old is not null)
        {
            rt.Strategy.ValidateUpdate(obj, old, errors);
        }
        if (errors.Count > 0)
        {
            throw ApiException.Invalid(rt.Kind, rt.Group, obj.Str("metadata", "name") ?? string.Empty, errors);
        }
    }

    private static void ValidateMetadata(ResourceType rt, JsonObject obj, List<FieldError> errors)
    {
        var meta = obj.Meta();
        var name = meta.Str("name") ?? string.Empty;
        var nameErrors = rt.Strategy.NameRule switch
        {
            NameRule.Label => Names.ValidateDns1123Label(name),
            NameRule.Dns1035Label => Names.ValidateDns1035Label(name),
            NameRule.PathSegment => name is "." or ".." ? [$"may not be '{name}'"] : name.IndexOfAny(['/', '%']) >= 0 ? [$"may not contain '{(name.Contains('/') ? "/" : "%")}'"] : [],
            _ => Names.ValidateDns1123Subdomain(name),
        };
        foreach (var e in nameErrors)
        {
            errors.Add(FieldError.Invalid("metadata.name", name, e));
        }
        if (meta["labels"] is JsonObject labels)
        {
            foreach (var (k, v) in labels)
            {
                if (Names.ValidateQualifiedName(k) is { } keyError)
                {
                    errors.Add(FieldError.Invalid("metadata.labels", k, keyError));
                }
                var value = v is JsonValue jv && jv.TryGetValue<string>(out var s) ? s : null;
                if (value is null)
                {
                    errors.Add(FieldError.Invalid($"metadata.labels", v?.ToJsonString(JsonLimits.Writer), "label values must be strings"));
                }
                else if (Names.ValidateLabelValue(value) is { } valueError)
                {
                    errors.Add(FieldError.Invalid("metadata.labels", value, valueError));
                }
            }
        }
        else if (meta["labels"] is not null)
        {
            errors.Add(FieldError.Invalid("metadata.labels", meta["labels"], "must be a map of strings"));
        }
        if (meta["annotations"] is JsonObject annotations)
        {
            long total = 0;
            foreach (var (k, v) in annotations)
            {
                if (Names.ValidateQualifiedName(k.ToLowerInvariant()) is { } keyError)
                {
                    errors.Add(FieldError.Invalid("metadata.annotations", k, keyError));
                }
                if (v is not JsonValue av || !av.TryGetValue<string>(out var text))
                {
                    errors.Add(FieldError.Invalid("metadata.annotations", v?.ToJsonString(JsonLimits.Writer), "annotation values must be strings"));
                    continue;
                }
                total += k.Length + text.Length;
            }
            if (total > 256 * 1024)
            {
                errors.Add(new FieldError("FieldValueTooLong", "metadata.annotations", $"Too long: must have at most {256 * 1024} bytes"));
            }
        }
        if (meta["finalizers"] is JsonArray finalizers)
        {
            foreach (var f in finalizers)
            {
                var text = f is JsonValue fv && fv.TryGetValue<string>(out var s) ? s : string.Empty;
                if (Names.ValidateQualifiedName(text) is { } fe)
                {
                    errors.Add(FieldError.Invalid("metadata.finalizers", text, fe));
                }
            }
        }
        if (rt.Namespaced && meta.Str("namespace") is { } ns)
        {
            foreach (var e in Names.ValidateDns1123Label(ns))
            {
                errors.Add(FieldError.Invalid("metadata.namespace", ns, e));
            }
        }
    }
}
