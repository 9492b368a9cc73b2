using System.Text.Json.Nodes;
using Tugboat.Api.Serialization;

namespace Tugboat.Api.Patch;

/// <summary>
/// Kubernetes strategic merge patch (<c>application/strategic-merge-patch+json</c>), as apimachinery's strategicpatch
/// applies it: objects merge recursively; lists merge by their merge key (or as a set of scalars) where the schema says
/// so and are replaced otherwise; <c>null</c> deletes; and the directives <c>$patch</c> (merge, replace, delete),
/// <c>$retainKeys</c>, <c>$setElementOrder/field</c> and <c>$deleteFromPrimitiveList/field</c> are honoured and never
/// left in the result.
/// </summary>
public static class StrategicMergePatch
{
    private const string Directive = "$patch";
    private const string RetainKeys = "$retainKeys";
    private const string SetElementOrder = "$setElementOrder/";
    private const string DeleteFromPrimitiveList = "$deleteFromPrimitiveList/";

    /// <summary>Applies <paramref name="patch"/> to a copy of <paramref name="original"/> whose fields follow <paramref name="definition"/>.</summary>
    public static JsonObject Apply(JsonObject original, JsonObject patch, string definition, PatchMeta? meta = null)
    {
        meta ??= PatchMeta.Instance;
        var result = MergeMap((JsonObject)original.DeepClone(), (JsonObject)patch.DeepClone(), definition, meta);
        return result ?? throw new PatchException("the patch deletes the whole object");
    }

    /// <summary>Merges <paramref name="patch"/> into <paramref name="original"/> (which it modifies); null when a <c>$patch: delete</c> removes the map.</summary>
    private static JsonObject? MergeMap(JsonObject original, JsonObject patch, string? definition, PatchMeta meta)
    {
        if (patch[Directive] is { } directive)
        {
            switch (Text(directive))
            {
                case "replace":
                    patch.Remove(Directive);
                    return (JsonObject?)StripDirectives(patch.DeepClone());
                case "delete":
                    return null;
                case "merge":
                    patch.Remove(Directive);
                    break;
                default:
                    throw new PatchException($"Unknown patch type: {directive.ToJsonString(JsonLimits.Writer)} in map: {patch.ToJsonString(JsonLimits.Writer)}");
            }
        }
        if (patch[RetainKeys] is { } retain)
        {
            if (retain is not JsonArray keys)
            {
                throw new PatchException($"invalid patch: $retainKeys must be a list, got {retain.ToJsonString(JsonLimits.Writer)}");
            }
            var kept = keys.Select(Text).ToHashSet(StringComparer.Ordinal);
            foreach (var name in original.Select(kv => kv.Key).ToList())
            {
                if (!kept.Contains(name))
                {
                    original.Remove(name);
                }
            }
            patch.Remove(RetainKeys);
        }
        var orders = new Dictionary<string, JsonArray>(StringComparer.Ordinal);
        foreach (var (key, value) in patch.ToList())
        {
            if (key.StartsWith(SetElementOrder, StringComparison.Ordinal))
            {
                orders[key[SetElementOrder.Length..]] = value as JsonArray ?? throw new PatchException($"invalid patch: {key} must be a list");
                patch.Remove(key);
            }
            else if (key.StartsWith(DeleteFromPrimitiveList, StringComparison.Ordinal))
            {
                var field = key[DeleteFromPrimitiveList.Length..];
                var remove = value as JsonArray ?? throw new PatchException($"invalid patch: {key} must be a list");
                if (original[field] is JsonArray list)
                {
                    foreach (var item in list.Where(i => remove.Any(r => JsonNode.DeepEquals(r, i))).ToList())
                    {
                        list.Remove(item);
                    }
                }
                patch.Remove(key);
            }
        }
        foreach (var (key, patchValue) in patch.ToList())
        {
            if (key.StartsWith('$'))
            {
                throw new PatchException($"unknown patch directive: {key}");
            }
            if (patchValue is null)
            {
                original.Remove(key);
                continue;
            }
            var field = meta.Field(definition, key);
            var originalValue = original[key];
            switch (patchValue)
            {
                case JsonObject patchObject when originalValue is JsonObject originalObject && field?.Replace != true:
                    var merged = MergeMap(originalObject, patchObject, field?.Item, meta);
                    if (merged is null)
                    {
                        original.Remove(key);
                    }
                    else if (!ReferenceEquals(merged, originalObject))
                    {
                        original[key] = merged;
                    }
                    break;
                case JsonArray patchList when originalValue is JsonArray originalList && field is { Merge: true }:
                    original[key] = MergeList(originalList, patchList, field, meta);
                    break;
                default:
                    original[key] = StripDirectives(DetachedCopy(patchValue));
                    break;
            }
        }
        foreach (var (field, order) in orders)
        {
            if (original[field] is JsonArray list)
            {
                original[field] = Reorder(list, order, meta.Field(definition, field)?.MergeKey);
            }
        }
        return original;
    }

    private static JsonArray MergeList(JsonArray original, JsonArray patch, PatchField field, PatchMeta meta)
    {
        var items = original.Select(DetachedCopy).ToList();
        var isObjects = original.Concat(patch).Any(i => i is JsonObject);
        if (!isObjects)
        {
            // Lists of scalars with the merge strategy are sets: the union, without duplicates.
            foreach (var p in patch)
            {
                if (!items.Any(i => JsonNode.DeepEquals(i, p)))
                {
                    items.Add(DetachedCopy(p));
                }
            }
            return new JsonArray(items.ToArray());
        }
        var mergeKey = field.MergeKey ?? throw new PatchException("cannot merge lists without merge key");
        var patchItems = patch.Select(DetachedCopy).ToList();
        // A {"$patch": "replace"} element replaces the whole list with the rest of the patch.
        if (patchItems.Any(p => p is JsonObject o && Text(o[Directive]) == "replace"))
        {
            return new JsonArray(patchItems.Where(p => !(p is JsonObject o && Text(o[Directive]) == "replace")).Select(StripDirectives).ToArray());
        }
        foreach (var p in patchItems)
        {
            if (p is not JsonObject patchItem)
            {
                throw new PatchException($"cannot merge a {p?.GetValueKind()} into a list of objects");
            }
            var keyValue = patchItem[mergeKey];
            if (keyValue is null && patchItem[Directive] is null)
            {
                throw new PatchException($"map: {patchItem.ToJsonString(JsonLimits.Writer)} does not contain declared merge key: {mergeKey}");
            }
            var index = items.FindIndex(i => i is JsonObject o && JsonNode.DeepEquals(o[mergeKey], keyValue));
            switch (Text(patchItem[Directive]))
            {
                case "delete":
                    items.RemoveAll(i => i is JsonObject o && JsonNode.DeepEquals(o[mergeKey], keyValue));
                    continue;
                case null or "merge":
                    patchItem.Remove(Directive);
                    break;
                default:
                    throw new PatchException($"Unknown patch type: {patchItem[Directive]!.ToJsonString(JsonLimits.Writer)} in map: {patchItem.ToJsonString(JsonLimits.Writer)}");
            }
            if (index >= 0)
            {
                var merged = MergeMap((JsonObject)items[index]!, patchItem, field.Item, meta);
                if (merged is null)
                {
                    items.RemoveAt(index);
                }
                else
                {
                    items[index] = merged;
                }
            }
            else
            {
                items.Add(StripDirectives(patchItem));
            }
        }
        return new JsonArray(items.ToArray());
    }

    /// <summary>
    /// <c>$setElementOrder</c>: the listed elements take the listed order; elements the patch does not mention keep
    /// their place relative to the original list.
    /// </summary>
    private static JsonArray Reorder(JsonArray list, JsonArray order, string? mergeKey)
    {
        JsonNode? KeyOf(JsonNode? n) => mergeKey is not null && n is JsonObject o ? o[mergeKey] : n;
        var items = list.Select(DetachedCopy).ToList();
        var ordered = new List<JsonNode?>();
        foreach (var o in order)
        {
            var want = KeyOf(o);
            var match = items.FirstOrDefault(i => JsonNode.DeepEquals(KeyOf(i), want));
            if (match is not null && !ordered.Contains(match))
            {
                ordered.Add(match);
            }
        }
        var result = new List<JsonNode?>(ordered);
        for (var i = 0; i < items.Count; i++)
        {
            if (!ordered.Contains(items[i]))
            {
                result.Insert(Math.Min(i, result.Count), items[i]);
            }
        }
        return new JsonArray(result.ToArray());
    }

    private static JsonNode? DetachedCopy(JsonNode? node) => node?.DeepClone();

    /// <summary>Removes every directive from a value taken over from the patch as it is.</summary>
    private static JsonNode? StripDirectives(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var key in o.Select(kv => kv.Key).Where(k => k.StartsWith('$')).ToList())
                {
                    o.Remove(key);
                }
                foreach (var (_, v) in o.ToList())
                {
                    StripDirectives(v);
                }
                return o;
            case JsonArray a:
                foreach (var item in a.Where(i => i is JsonObject d && d[Directive] is not null).ToList())
                {
                    a.Remove(item);
                }
                foreach (var item in a)
                {
                    StripDirectives(item);
                }
                return a;
            default:
                return node;
        }
    }

    /// <summary>A directive's or retained key's string; anything else in their place is a malformed patch.</summary>
    private static string? Text(JsonNode? node) => node switch
    {
        null => null,
        JsonValue v when v.TryGetValue<string>(out var s) => s,
        _ => throw new PatchException("invalid patch: a patch directive or retained key must be a string"),
    };
}
