using System.Globalization;
using System.Text.Json.Nodes;

namespace Tugboat.Api.Apply;

/// <summary>One entry of metadata.managedFields: who set which fields, how, through which version and subresource.</summary>
public sealed class ManagedFieldsEntry
{
    public required string Manager { get; init; }
    public required string Operation { get; init; }
    public string? ApiVersion { get; set; }
    public string? Time { get; set; }
    public string? Subresource { get; init; }

    private FieldSet? _fields;

    /// <summary>The stored form of an entry nothing changed yet; written back as it is.</summary>
    internal JsonObject? Raw { get; set; }

    /// <summary>The owned fields, read from the stored form on first use. Callers that change them call <see cref="Touch"/>.</summary>
    public FieldSet Fields
    {
        get => _fields ??= FieldSet.FromFieldsV1(Raw?["fieldsV1"]) ?? new FieldSet();
        set
        {
            _fields = value;
            Raw = null;
        }
    }

    /// <summary>Marks the entry changed, so it is written from <see cref="Fields"/>.</summary>
    internal void Touch()
    {
        _ = Fields;
        Raw = null;
    }

    /// <summary>Whether any member of <paramref name="set"/> is a member of this entry, read without decoding the whole entry.</summary>
    internal bool Overlaps(FieldSet set) => Raw?["fieldsV1"] is JsonObject v1 ? Overlaps(v1, set) : !Fields.Intersect(set).IsEmpty;

    private static bool Overlaps(JsonObject v1, FieldSet set)
    {
        foreach (var (element, child) in set.Children)
        {
            if (v1[element] is not JsonObject mine)
            {
                continue;
            }
            if (child.Member && (mine.Count == 0 || mine.ContainsKey(".")))
            {
                return true;
            }
            if (Overlaps(mine, child))
            {
                return true;
            }
        }
        return false;
    }

    public bool IsApply => Operation == "Apply";

    /// <summary>Entries are one per manager, operation and subresource, and for updates also per API version.</summary>
    public bool SameIdentity(string manager, string operation, string? apiVersion, string? subresource) =>
        Manager == manager && Operation == operation && (Subresource ?? string.Empty) == (subresource ?? string.Empty)
        && (operation == "Apply" || ApiVersion == apiVersion);

    /// <summary>The manager as upstream names it in conflicts: <c>"kubectl" using apps/v1</c>.</summary>
    public string Describe()
    {
        var s = "\"" + Manager + "\"";
        if (!string.IsNullOrEmpty(Subresource))
        {
            s += $" with subresource \"{Subresource}\"";
        }
        return IsApply ? s : s + " using " + ApiVersion;
    }
}

/// <summary>Fields of a write that other managers own and that the write would change.</summary>
public sealed class ApplyConflictException(IReadOnlyList<(ManagedFieldsEntry Manager, string Path)> conflicts)
    : Exception(MessageOf(conflicts))
{
    public IReadOnlyList<(ManagedFieldsEntry Manager, string Path)> Conflicts => conflicts;

    private static string MessageOf(IReadOnlyList<(ManagedFieldsEntry Manager, string Path)> conflicts)
    {
        if (conflicts.Count == 1)
        {
            return $"Apply failed with 1 conflict: conflict with {conflicts[0].Manager.Describe()}: {conflicts[0].Path}";
        }
        var lines = new List<string>();
        foreach (var group in conflicts.GroupBy(c => c.Manager.Describe()).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            lines.Add($"conflicts with {group.Key}:");
            lines.AddRange(group.Select(c => "- " + c.Path));
        }
        return $"Apply failed with {conflicts.Count} conflicts: {string.Join("\n", lines)}";
    }
}

/// <summary>
/// Server-side apply and field ownership, with the semantics of upstream's structured-merge-diff: every write records
/// which manager set which fields in metadata.managedFields; an apply merges the caller's configuration into the
/// object, removes the fields the caller applied before and no longer applies (unless someone else owns them), and
/// fails with conflicts when it would change a value another manager owns (unless forced).
/// </summary>
public static class FieldManager
{
    /// <summary>Metadata the server sets; nobody owns it.</summary>
    private static readonly HashSet<string> ServerMetadata = new(StringComparer.Ordinal)
    {
        "name", "namespace", "creationTimestamp", "selfLink", "uid", "generation", "managedFields", "resourceVersion",
        "deletionTimestamp", "deletionGracePeriodSeconds",
    };

    /// <summary>
    /// The managedFields after a create, update or patch by <paramref name="manager"/> that changed <paramref name="live"/>
    /// (null for a create) into <paramref name="next"/>. Fields the write set are taken from every other manager.
    /// <paramref name="tracked"/> picks the top-level fields the write may set (e.g. only status for the status subresource).
    /// Returns null when no entry remains. Entries are moved, not copied, out of <paramref name="live"/>.
    /// </summary>
    public static JsonArray? Update(JsonObject? live, JsonObject next, FieldType type, string manager, string apiVersion, string? subresource, Func<string, bool> tracked, DateTimeOffset now)
    {
        var sent = next.Meta()?["managedFields"] as JsonArray;
        if (sent is [JsonObject { Count: 0 }])
        {
            // Upstream's documented way to strip managedFields: a list holding one empty entry.
            return null;
        }
        var stored = live?.Meta()?["managedFields"] as JsonArray;
        // Clients round-trip the entries they read; only entries a client actually changed need checking.
        var clientSet = sent is { Count: > 0 } && !JsonNode.DeepEquals(sent, stored);
        var source = clientSet ? sent : stored;
        var diff = Compare(live, next, type, tracked);
        if (diff.Added.IsEmpty && diff.Modified.IsEmpty && diff.Removed.IsEmpty)
        {
            return source is null ? null : Detach(source);
        }
        var entries = Decode(source, validate: clientSet);
        var changed = diff.Added;
        changed.UnionWith(diff.Modified);
        var mine = entries.Find(e => e.SameIdentity(manager, "Update", apiVersion, subresource));
        foreach (var e in entries)
        {
            if (e != mine && (e.Overlaps(changed) || e.Overlaps(diff.Removed)))
            {
                e.Touch();
                e.Fields.ExceptWith(changed);
                e.Fields.ExceptWith(diff.Removed);
            }
        }
        if (mine is null)
        {
            // A manager's first write owns exactly what it changed (nothing it changed was removed): the set is
            // taken as it is rather than copied.
            entries.Add(new ManagedFieldsEntry { Manager = manager, Operation = "Update", ApiVersion = apiVersion, Subresource = subresource, Fields = changed, Time = Tugboat.Api.Meta.Times.Format(now) });
        }
        else
        {
            var before = mine.Fields.Clone();
            mine.Touch();
            mine.Fields.ExceptWith(diff.Removed);
            mine.Fields.UnionWith(changed);
            if (!mine.Fields.Equals(before) || mine.Time is null)
            {
                mine.Time = Tugboat.Api.Meta.Times.Format(now);
            }
        }
        entries.RemoveAll(e => e.Raw is null && e.Fields.IsEmpty);
        return Encode(entries);
    }

    /// <summary>
    /// Applies <paramref name="config"/> for <paramref name="manager"/> to <paramref name="live"/> (null: the object does not
    /// exist yet) and returns the object to store, managedFields included. Entries are moved, not copied, out of
    /// <paramref name="live"/>.
    /// </summary>
    /// <exception cref="ApplyConflictException">The apply would change fields other managers own and is not forced.</exception>
    /// <param name="allowedConflicts">
    /// Fields whose conflicts do not stop the apply (see <see cref="AllowedByLastApplied"/>): when every conflict is
    /// among them the apply goes ahead as if forced; otherwise only the others are reported.
    /// </param>
    public static JsonObject Apply(JsonObject? live, JsonObject config, FieldType type, string manager, string apiVersion, string? subresource, bool force, Func<string, bool> tracked, DateTimeOffset now, FieldSet? allowedConflicts = null)
    {
        var entries = Decode(live?.Meta()?["managedFields"] as JsonArray);
        var mine = entries.Find(e => e.SameIdentity(manager, "Apply", null, subresource));
        var last = mine?.Fields ?? new FieldSet();
        var applied = ToFieldSet(config, type, tracked);
        var merged = Merge(live ?? new JsonObject(), config, type) as JsonObject ?? new JsonObject();

        // Fields this manager applied before and no longer applies go, unless another manager owns them.
        var owned = applied.Clone();
        foreach (var e in entries)
        {
            if (e != mine)
            {
                owned.UnionWith(e.Fields);
            }
        }
        Prune(merged, last, owned, type, []);

        var diff = Compare(live, merged, type, tracked);
        var changed = diff.Added;
        changed.UnionWith(diff.Modified);
        var conflicts = new List<(ManagedFieldsEntry, FieldSet)>();
        foreach (var e in entries)
        {
            if (e != mine && e.Overlaps(changed))
            {
                conflicts.Add((e, e.Fields.Intersect(changed)));
            }
        }
        if (conflicts.Count > 0 && !force)
        {
            var reported = conflicts.Select(c => (c.Item1, allowedConflicts is null ? c.Item2 : Without(c.Item2, allowedConflicts)))
                .Where(c => !c.Item2.IsEmpty).ToList();
            if (reported.Count > 0)
            {
                throw new ApplyConflictException(reported
                    .SelectMany(c => c.Item2.Members().Select(p => (c.Item1, FieldSet.Render(p))))
                    .ToList());
            }
        }
        foreach (var (e, overlap) in conflicts)
        {
            e.Touch();
            e.Fields.ExceptWith(overlap);
        }
        foreach (var e in entries)
        {
            if (e != mine && e.Overlaps(diff.Removed))
            {
                e.Touch();
                e.Fields.ExceptWith(diff.Removed);
            }
        }
        if (mine is null)
        {
            mine = new ManagedFieldsEntry { Manager = manager, Operation = "Apply", Subresource = subresource, Fields = applied };
            entries.Add(mine);
        }
        if (!mine.Fields.Equals(applied) || mine.ApiVersion != apiVersion || mine.Time is null || !changed.IsEmpty || !diff.Removed.IsEmpty)
        {
            mine.Time = Tugboat.Api.Meta.Times.Format(now);
        }
        mine.Fields = applied;
        mine.ApiVersion = apiVersion;
        entries.RemoveAll(e => e.Raw is null && e.Fields.IsEmpty && e != mine);
        var meta = merged.Meta() ?? new JsonObject();
        merged["metadata"] = meta;
        meta["managedFields"] = Encode(entries);
        return merged;
    }

    private static FieldSet Without(FieldSet set, FieldSet taken)
    {
        var rest = set.Clone();
        rest.ExceptWith(taken);
        return rest;
    }

    /// <summary>
    /// Upstream's upgrade from client-side to server-side apply: the fields of the last-applied-configuration
    /// annotation whose values the live object still has. kubectl's server-side apply may take them from the
    /// client-side manager without a conflict (anything else still conflicts). Null without a readable annotation.
    /// </summary>
    public static FieldSet? AllowedByLastApplied(JsonObject live, FieldType type, Func<string, bool> tracked)
    {
        if (live.Meta()?["annotations"]?[LastAppliedAnnotation] is not JsonValue value || !value.TryGetValue<string>(out var text) || text.Length == 0)
        {
            return null;
        }
        JsonObject lastApplied;
        try
        {
            lastApplied = Serialization.JsonLimits.Parse(text) as JsonObject ?? throw new System.Text.Json.JsonException();
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
        var allowed = ToFieldSet(lastApplied, type, tracked);
        allowed.ExceptWith(Compare(lastApplied, live, type, tracked).Modified);
        return allowed;
    }

    /// <summary>kubectl's client-side apply record, kept in step by kubectl's server-side applies.</summary>
    public const string LastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration";

    /// <summary>The fields a value sets (upstream's ToFieldSet), without the ones the server owns.</summary>
    public static FieldSet ToFieldSet(JsonObject obj, FieldType type, Func<string, bool> tracked)
    {
        var set = new FieldSet();
        WalkObject(obj, type, set, Level.Root, tracked);
        return set;
    }

    private enum Level
    {
        Root,
        Metadata,
        Other,
    }

    private static bool Skipped(Level level, string key, Func<string, bool>? tracked) => level switch
    {
        Level.Root => key is "apiVersion" or "kind" || tracked?.Invoke(key) == false,
        Level.Metadata => ServerMetadata.Contains(key),
        _ => false,
    };

    private static Level Below(Level level, string key) => level == Level.Root && key == "metadata" ? Level.Metadata : Level.Other;

    private static void Walk(JsonNode? value, FieldType type, FieldSet node)
    {
        switch (value)
        {
            case JsonObject obj when !type.Atomic:
                WalkObject(obj, type, node, Level.Other, null);
                break;
            case JsonArray list when !type.Atomic && type.ListKind != ListKind.Atomic:
                for (var i = 0; i < list.Count; i++)
                {
                    var item = list[i];
                    var child = node.Child(ItemElement(item, type, i));
                    if (type.ListKind == ListKind.Map)
                    {
                        Walk(item, type.Item, child);
                    }
                    child.Member = true;
                }
                break;
            default:
                node.Member = true;
                break;
        }
    }

    private static void WalkObject(JsonObject obj, FieldType type, FieldSet node, Level level, Func<string, bool>? tracked)
    {
        foreach (var (key, value) in obj)
        {
            if (Skipped(level, key, tracked))
            {
                continue;
            }
            var element = "f:" + key;
            var child = node.Child(element);
            var childType = type.Field(key);
            if (value is JsonObject o && !childType.Atomic)
            {
                WalkObject(o, childType, child, Below(level, key), null);
            }
            else
            {
                Walk(value, childType, child);
            }
            if (level != Level.Root && (value is null || value is JsonObject { Count: 0 } || !type.Declares(key)))
            {
                child.Member = true;
            }
            if (child.IsEmpty)
            {
                node.Remove(element);
            }
        }
    }

    /// <summary>The path element of a list item: its key fields for map lists, its value for sets.</summary>
    private static string ItemElement(JsonNode? item, FieldType listType, int index)
    {
        if (listType.ListKind == ListKind.Set)
        {
            return "v:" + (item?.ToJsonString(FieldSet.Wire) ?? "null");
        }
        if (item is not JsonObject obj || listType.ListKeys.Count == 0)
        {
            return "i:" + index.ToString(CultureInfo.InvariantCulture);
        }
        var keys = listType.ListKeys;
        if (keys.Count == 1 && obj[keys[0]] is JsonValue single)
        {
            return "k:{\"" + keys[0] + "\":" + single.ToJsonString(FieldSet.Wire) + "}";
        }
        var sb = new System.Text.StringBuilder("k:{");
        foreach (var name in keys.Order(StringComparer.Ordinal))
        {
            // Upstream fills key fields the item leaves out from their defaults; protocol is the one that has one.
            var v = obj[name]?.ToJsonString(FieldSet.Wire) ?? (name == "protocol" ? "\"TCP\"" : null);
            if (v is not null)
            {
                sb.Append(sb.Length > 3 ? ",\"" : "\"").Append(name).Append("\":").Append(v);
            }
        }
        return sb.Append('}').ToString();
    }

    private sealed record Comparison(FieldSet Added, FieldSet Modified, FieldSet Removed);

    /// <summary>Which fields a write added, changed and removed (upstream's Compare).</summary>
    private static Comparison Compare(JsonObject? live, JsonObject next, FieldType type, Func<string, bool> tracked)
    {
        var c = new Comparison(new FieldSet(), new FieldSet(), new FieldSet());
        DiffObjects(live ?? new JsonObject(), next, type, [], c, Level.Root, tracked);
        return c;
    }

    private static void DiffObjects(JsonObject l, JsonObject r, FieldType type, List<string> path, Comparison c, Level level, Func<string, bool>? tracked)
    {
        foreach (var (key, lv) in l)
        {
            if (Skipped(level, key, tracked))
            {
                continue;
            }
            path.Add("f:" + key);
            Diff(lv, r.TryGetPropertyValue(key, out var rv) ? rv : null, type.Field(key), path, c, Below(level, key));
            path.RemoveAt(path.Count - 1);
        }
        foreach (var (key, rv) in r)
        {
            if (l.ContainsKey(key) || Skipped(level, key, tracked))
            {
                continue;
            }
            path.Add("f:" + key);
            Diff(null, rv, type.Field(key), path, c, Below(level, key));
            path.RemoveAt(path.Count - 1);
        }
    }

    private static void Diff(JsonNode? l, JsonNode? r, FieldType type, List<string> path, Comparison c, Level level)
    {
        if (l is null && r is null)
        {
            return;
        }
        if (!type.Atomic)
        {
            if (l is JsonObject lo && r is JsonObject ro)
            {
                DiffObjects(lo, ro, type, path, c, level, null);
                return;
            }
            if (l is JsonArray la && r is JsonArray ra && type.ListKind != ListKind.Atomic)
            {
                var left = Index(la, type);
                var right = Index(ra, type);
                foreach (var (element, li) in left)
                {
                    path.Add(element);
                    if (right.TryGetValue(element, out var ri))
                    {
                        if (type.ListKind == ListKind.Map)
                        {
                            Diff(li, ri, type.Item, path, c, Level.Other);
                        }
                    }
                    else
                    {
                        var gone = c.Removed.At(path);
                        Walk(li, type.ListKind == ListKind.Map ? type.Item : FieldType.Untyped, gone);
                        gone.Member = true;
                    }
                    path.RemoveAt(path.Count - 1);
                }
                foreach (var (element, ri) in right)
                {
                    if (!left.ContainsKey(element))
                    {
                        path.Add(element);
                        var added = c.Added.At(path);
                        Walk(ri, type.ListKind == ListKind.Map ? type.Item : FieldType.Untyped, added);
                        added.Member = true;
                        path.RemoveAt(path.Count - 1);
                    }
                }
                return;
            }
        }
        if (l is null)
        {
            Mark(c.Added, r, type, path, level);
        }
        else if (r is null)
        {
            Mark(c.Removed, l, type, path, level).Member = true;
        }
        else if (!JsonNode.DeepEquals(l, r))
        {
            c.Modified.Insert(path);
            if (r is JsonObject or JsonArray && !type.Atomic)
            {
                Mark(c.Added, r, type, path, level);
            }
        }
    }

    /// <summary>Records a value that appeared or disappeared as a whole: every field in it, and the value itself unless it is a struct or a keyed list.</summary>
    private static FieldSet Mark(FieldSet set, JsonNode? value, FieldType type, List<string> path, Level level)
    {
        var node = set.At(path);
        if (value is JsonObject obj && !type.Atomic)
        {
            WalkObject(obj, type, node, level, null);
            if (!type.IsStruct)
            {
                node.Member = true;
            }
        }
        else
        {
            Walk(value, type, node);
        }
        return node;
    }

    private static Dictionary<string, JsonNode?> Index(JsonArray list, FieldType type)
    {
        var result = new Dictionary<string, JsonNode?>(list.Count, StringComparer.Ordinal);
        for (var i = 0; i < list.Count; i++)
        {
            result.TryAdd(ItemElement(list[i], type, i), list[i]);
        }
        return result;
    }

    /// <summary>Merges an applied configuration into the live value: the configuration wins, keyed lists and sets merge by item.</summary>
    public static JsonNode? Merge(JsonNode? live, JsonNode? config, FieldType type)
    {
        if (config is null)
        {
            return live?.DeepClone();
        }
        if (live is null || type.Atomic)
        {
            return config.DeepClone();
        }
        if (live is JsonObject lo && config is JsonObject co)
        {
            var result = new JsonObject();
            foreach (var (key, lv) in lo)
            {
                if (!co.TryGetPropertyValue(key, out var cv))
                {
                    result[key] = lv?.DeepClone();
                }
                else if (cv is not null)
                {
                    result[key] = Merge(lv, cv, type.Field(key));
                }
            }
            foreach (var (key, cv) in co)
            {
                if (!lo.ContainsKey(key) && cv is not null)
                {
                    result[key] = cv.DeepClone();
                }
            }
            return result;
        }
        if (live is JsonArray la && config is JsonArray ca && type.ListKind != ListKind.Atomic)
        {
            var configured = Index(ca, type);
            var result = new JsonArray();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            for (var i = 0; i < la.Count; i++)
            {
                var element = ItemElement(la[i], type, i);
                if (!seen.Add(element))
                {
                    continue;
                }
                result.Add(configured.TryGetValue(element, out var ci)
                    ? (type.ListKind == ListKind.Map ? Merge(la[i], ci, type.Item) : ci?.DeepClone())
                    : la[i]?.DeepClone());
            }
            foreach (var (element, ci) in configured)
            {
                if (seen.Add(element))
                {
                    result.Add(ci?.DeepClone());
                }
            }
            return result;
        }
        return config.DeepClone();
    }

    /// <summary>Removes from <paramref name="value"/> every path of <paramref name="last"/> that <paramref name="owned"/> does not reach.</summary>
    private static void Prune(JsonNode? value, FieldSet last, FieldSet owned, FieldType type, List<string> path)
    {
        foreach (var (element, child) in last.Children.ToList())
        {
            if (path.Count == 0 && element is "f:metadata" or "f:apiVersion" or "f:kind")
            {
                if (element == "f:metadata" && value is JsonObject root)
                {
                    path.Add(element);
                    Prune(root["metadata"], child, owned, type.Field("metadata"), path);
                    path.RemoveAt(path.Count - 1);
                }
                continue;
            }
            path.Add(element);
            var (childValue, childType) = Step(value, element, type);
            if (owned.HasNode(path))
            {
                if (childValue is not null)
                {
                    Prune(childValue, child, owned, childType, path);
                }
            }
            else
            {
                RemoveChild(value, element, type);
            }
            path.RemoveAt(path.Count - 1);
        }
    }

    private static (JsonNode? Value, FieldType Type) Step(JsonNode? value, string element, FieldType type)
    {
        if (element.StartsWith("f:", StringComparison.Ordinal))
        {
            var name = element[2..];
            return (value is JsonObject o ? o[name] : null, type.Field(name));
        }
        if (value is JsonArray list)
        {
            for (var i = 0; i < list.Count; i++)
            {
                if (ItemElement(list[i], type, i) == element)
                {
                    return (list[i], type.Item);
                }
            }
        }
        return (null, type.Item);
    }

    private static void RemoveChild(JsonNode? value, string element, FieldType type)
    {
        if (element.StartsWith("f:", StringComparison.Ordinal))
        {
            (value as JsonObject)?.Remove(element[2..]);
            return;
        }
        if (value is JsonArray list)
        {
            for (var i = list.Count - 1; i >= 0; i--)
            {
                if (ItemElement(list[i], type, i) == element)
                {
                    list.RemoveAt(i);
                }
            }
        }
    }

    /// <summary>Reads metadata.managedFields; entries that are not valid FieldsV1 are dropped, as upstream resets them.</summary>
    public static List<ManagedFieldsEntry> Decode(JsonArray? managedFields) => Decode(managedFields, validate: true);

    /// <summary>
    /// Reads entries; without <paramref name="validate"/> (entries this server stored) their fields are read only
    /// when used, and entries left untouched are written back as they were.
    /// </summary>
    private static List<ManagedFieldsEntry> Decode(JsonArray? managedFields, bool validate)
    {
        var entries = new List<ManagedFieldsEntry>();
        if (managedFields is null)
        {
            return entries;
        }
        foreach (var node in managedFields)
        {
            if (node is not JsonObject e || Text(e, "manager") is not { } manager || Text(e, "operation") is not ("Apply" or "Update"))
            {
                continue;
            }
            var entry = new ManagedFieldsEntry
            {
                Manager = manager,
                Operation = Text(e, "operation")!,
                ApiVersion = Text(e, "apiVersion"),
                Time = Text(e, "time"),
                Subresource = Text(e, "subresource"),
            };
            if (validate)
            {
                if (FieldSet.FromFieldsV1(e["fieldsV1"]) is not { } fields)
                {
                    continue;
                }
                entry.Fields = fields;
            }
            else
            {
                entry.Raw = e;
            }
            entries.Add(entry);
        }
        return entries;
    }

    /// <summary>Writes entries in upstream's order: applies first, then by time, manager, version, subresource.</summary>
    public static JsonArray? Encode(List<ManagedFieldsEntry> entries)
    {
        if (entries.Count == 0)
        {
            return null;
        }
        var result = new JsonArray();
        foreach (var e in entries
            .OrderBy(e => e.Operation, StringComparer.Ordinal)
            .ThenBy(e => e.Time ?? string.Empty, StringComparer.Ordinal)
            .ThenBy(e => e.Manager, StringComparer.Ordinal)
            .ThenBy(e => e.ApiVersion ?? string.Empty, StringComparer.Ordinal)
            .ThenBy(e => e.Subresource ?? string.Empty, StringComparer.Ordinal))
        {
            if (e.Raw is { } raw && e.Time == Text(raw, "time") && e.ApiVersion == Text(raw, "apiVersion"))
            {
                result.Add(Detach(raw));
                continue;
            }
            var obj = new JsonObject
            {
                ["manager"] = e.Manager,
                ["operation"] = e.Operation,
                ["apiVersion"] = e.ApiVersion,
                ["time"] = e.Time,
                ["fieldsType"] = "FieldsV1",
                ["fieldsV1"] = e.Fields.ToFieldsV1(),
            };
            if (!string.IsNullOrEmpty(e.Subresource))
            {
                obj["subresource"] = e.Subresource;
            }
            result.Add(obj);
        }
        return result;
    }

    /// <summary>Takes a node out of its parent so it can be placed elsewhere.</summary>
    private static T Detach<T>(T node)
        where T : JsonNode
    {
        switch (node.Parent)
        {
            case JsonObject parent:
                parent.Remove(node.GetPropertyName());
                break;
            case JsonArray parent:
                parent.Remove(node);
                break;
        }
        return node;
    }


    private static string? Text(JsonObject o, string name) => o[name] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    private static JsonObject? Meta(this JsonObject obj) => obj["metadata"] as JsonObject;
}
