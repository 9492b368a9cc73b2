using Tugboat.ApiServer.Registry;

namespace Tugboat.ApiServer.Http;

/// <summary>A resource request parsed from its path: /api/v1/… or /apis/{group}/{version}/…</summary>
internal sealed record RequestInfo(ResourceType Type, string? Namespace, string? Name, string Subresource)
{
    /// <summary>Parses the resource part of a path; null when the path names no served resource.</summary>
    public static RequestInfo? Parse(Catalog catalog, string group, string version, ReadOnlySpan<string> segs)
    {
        // Namespaced: namespaces/{ns}/{resource}[/{name}[/{sub}]]; the namespace object itself: namespaces/{name}[/{sub}].
        if (segs.Length >= 3 && segs[0] == "namespaces" && catalog.Find(group, version, segs[2]) is { Namespaced: true } nsType
            && !(group.Length == 0 && segs.Length == 3 && segs[2] is "status" or "finalize"))
        {
            return segs.Length switch
            {
                3 => new RequestInfo(nsType, segs[1], null, string.Empty),
                4 => new RequestInfo(nsType, segs[1], segs[3], string.Empty),
                5 => new RequestInfo(nsType, segs[1], segs[3], segs[4]),
                _ => null,
            };
        }
        if (segs.Length == 0 || catalog.Find(group, version, segs[0]) is not { } type)
        {
            return null;
        }
        if (type.Namespaced)
        {
            // A namespaced resource across all namespaces: only the collection.
            return segs.Length == 1 ? new RequestInfo(type, null, null, string.Empty) : null;
        }
        return segs.Length switch
        {
            1 => new RequestInfo(type, null, null, string.Empty),
            2 => new RequestInfo(type, null, segs[1], string.Empty),
            3 => new RequestInfo(type, null, segs[1], segs[2]),
            _ => null,
        };
    }
}
