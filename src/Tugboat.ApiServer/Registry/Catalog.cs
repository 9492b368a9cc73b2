namespace Tugboat.ApiServer.Registry;

/// <summary>
/// Every served resource, looked up by group/version/resource or group/kind. Built-in kinds are fixed; custom resources
/// come and go with their definitions. Readers see consistent snapshots; <see cref="Version"/> changes with every change.
/// </summary>
internal sealed class Catalog
{
    private readonly object _gate = new();
    private readonly IReadOnlyList<ResourceType> _builtins;
    private readonly Dictionary<string, IReadOnlyList<ResourceType>> _custom = new(StringComparer.Ordinal);
    private volatile Snapshot _snapshot;

    private sealed record Snapshot(
        long Version,
        IReadOnlyList<ResourceType> All,
        Dictionary<(string Group, string Version, string Plural), ResourceType> ByPath,
        Dictionary<(string Group, string Kind), ResourceType> ByKind);

    public Catalog(IEnumerable<ResourceType> types)
    {
        _builtins = types.ToList();
        _snapshot = Build(0);
    }

    public long Version => _snapshot.Version;

    public IReadOnlyList<ResourceType> All => _snapshot.All;

    public ResourceType? Find(string group, string version, string plural) =>
        _snapshot.ByPath.GetValueOrDefault((group, version, plural));

    public ResourceType? FindKind(string group, string kind) => _snapshot.ByKind.GetValueOrDefault((group, kind));

    public ResourceType Get(string group, string kind) =>
        FindKind(group, kind) ?? throw new InvalidOperationException($"kind {kind} of group '{group}' is not registered");

    /// <summary>Whether a built-in kind already serves this group and resource (custom resources may not shadow one).</summary>
    public bool IsBuiltin(string group, string plural) => _builtins.Any(t => t.Group == group && t.Plural == plural);

    /// <summary>Group versions in discovery order: the legacy core group first, then named groups.</summary>
    public IEnumerable<(string Group, string Version)> GroupVersions() => All.Select(t => (t.Group, t.Version)).Distinct();

    /// <summary>Serves (or replaces) the resource types a custom resource definition contributes.</summary>
    public void SetCustom(string owner, IReadOnlyList<ResourceType> types)
    {
        lock (_gate)
        {
            _custom[owner] = types;
            _snapshot = Build(_snapshot.Version + 1);
        }
    }

    /// <summary>Stops serving what a definition contributed.</summary>
    public void RemoveCustom(string owner)
    {
        lock (_gate)
        {
            if (_custom.Remove(owner))
            {
                _snapshot = Build(_snapshot.Version + 1);
            }
        }
    }

    private Snapshot Build(long version)
    {
        var all = _builtins.Concat(_custom.OrderBy(kv => kv.Key, StringComparer.Ordinal).SelectMany(kv => kv.Value)).ToList();
        var byPath = new Dictionary<(string, string, string), ResourceType>();
        var byKind = new Dictionary<(string, string), ResourceType>();
        foreach (var t in all)
        {
            byPath[(t.Group, t.Version, t.Plural)] = t;
            // The first version registered for a kind (the storage or preferred one) answers kind lookups.
            byKind.TryAdd((t.Group, t.Kind), t);
        }
        return new Snapshot(version, all, byPath, byKind);
    }
}
