namespace Tugboat.ApiServer.Registry;

/// <summary>Every served resource, looked up by group/version/resource or group/kind.</summary>
internal sealed class Catalog
{
    private readonly Dictionary<(string Group, string Version, string Plural), ResourceType> _byPath = [];
    private readonly Dictionary<(string Group, string Kind), ResourceType> _byKind = [];
    private readonly List<ResourceType> _all = [];

    public Catalog(IEnumerable<ResourceType> types)
    {
        foreach (var t in types)
        {
            _byPath[(t.Group, t.Version, t.Plural)] = t;
            _byKind[(t.Group, t.Kind)] = t;
            _all.Add(t);
        }
    }

    public IReadOnlyList<ResourceType> All => _all;

    public ResourceType? Find(string group, string version, string plural) =>
        _byPath.GetValueOrDefault((group, version, plural));

    public ResourceType? FindKind(string group, string kind) => _byKind.GetValueOrDefault((group, kind));

    public ResourceType Get(string group, string kind) =>
        FindKind(group, kind) ?? throw new InvalidOperationException($"kind {kind} of group '{group}' is not registered");

    /// <summary>Group versions in discovery order: the legacy core group first, then named groups as upstream orders them.</summary>
    public IEnumerable<(string Group, string Version)> GroupVersions() =>
        _all.Select(t => (t.Group, t.Version)).Distinct();

    public bool ServesGroupVersion(string group, string version) => _all.Any(t => t.Group == group && t.Version == version);
}
