namespace Tugboat.Api.Patch;

/// <summary>
/// The strategic-merge metadata of the built-in kinds (merge keys and patch strategies per field), loaded from the
/// table tools/SchemaGen extracts from the upstream OpenAPI schema.
/// </summary>
public sealed class PatchMeta
{
    private readonly Dictionary<string, string> _kinds;
    private readonly Dictionary<string, Dictionary<string, PatchField>> _definitions;

    private readonly HashSet<string> _atomic;

    private PatchMeta(Dictionary<string, string> kinds, Dictionary<string, Dictionary<string, PatchField>> definitions, HashSet<string> atomic)
    {
        _kinds = kinds;
        _definitions = definitions;
        _atomic = atomic;
    }

    /// <summary>Whether objects of a definition are owned and applied as a whole (x-kubernetes-map-type: atomic).</summary>
    public bool IsAtomic(string definition) => _atomic.Contains(definition);

    public static PatchMeta Instance { get; } = Load();

    /// <summary>The definition that objects of <paramref name="apiVersion"/>/<paramref name="kind"/> follow, or null for kinds without one (custom resources).</summary>
    public string? DefinitionOf(string apiVersion, string kind) => _kinds.GetValueOrDefault(apiVersion + " " + kind);

    /// <summary>Every field of a definition, or null for definitions the table does not hold.</summary>
    public IReadOnlyDictionary<string, PatchField>? Fields(string definition) => _definitions.GetValueOrDefault(definition);

    /// <summary>Patch metadata of one field of a definition, or null for a plain field (replaced by a patch).</summary>
    public PatchField? Field(string? definition, string field) =>
        definition is not null && _definitions.TryGetValue(definition, out var fields) ? fields.GetValueOrDefault(field) : null;

    private static PatchMeta Load()
    {
        using var stream = typeof(PatchMeta).Assembly.GetManifestResourceStream("Tugboat.Api.api-schema.txt")
            ?? throw new InvalidOperationException("the API schema table is missing from Tugboat.Api");
        using var reader = new StreamReader(stream);
        var kinds = new Dictionary<string, string>(StringComparer.Ordinal);
        var definitions = new Dictionary<string, Dictionary<string, PatchField>>(StringComparer.Ordinal);
        var atomic = new HashSet<string>(StringComparer.Ordinal);
        Dictionary<string, PatchField>? current = null;
        while (reader.ReadLine() is { } line)
        {
            var parts = line.Split(' ');
            switch (parts[0])
            {
                case "K":
                    kinds[parts[1] + " " + parts[2]] = parts[3];
                    break;
                case "D":
                    current = [];
                    definitions[parts[1]] = current;
                    if (parts.AsSpan(2).Contains("atomic"))
                    {
                        atomic.Add(parts[1]);
                    }
                    break;
                case "F" when current is not null:
                    var strategies = parts[4] == "-" ? [] : parts[4].Split(',');
                    current[parts[1]] = new PatchField(
                        parts[2],
                        parts[3] == "-" ? null : parts[3],
                        strategies.Contains("merge"),
                        strategies.Contains("retainKeys"),
                        strategies.Contains("replace"),
                        parts[5] == "-" ? null : parts[5],
                        parts[6] == "-" ? null : parts[6],
                        parts[7] == "-" ? [] : parts[7].Split(','),
                        parts[8] == "atomic");
                    break;
            }
        }
        return new PatchMeta(kinds, definitions, atomic);
    }
}

/// <summary>
/// A field's type (<c>object</c>, <c>list</c>, <c>map</c>, a scalar type, or <c>any</c>), the definition or scalar type of
/// its value or items, whether lists
/// merge (by <see cref="MergeKey"/> for lists of objects, as a set for lists of scalars), whether the field's object
/// honours <c>$retainKeys</c>, and whether it is always replaced; for server-side apply, the declared list type
/// (atomic, map, set) with the keys of map lists, and whether a map is atomic.
/// </summary>
public sealed record PatchField(string Shape, string? Item, bool Merge, bool RetainKeys, bool Replace, string? MergeKey, string? ListType, string[] ListKeys, bool AtomicMap);
