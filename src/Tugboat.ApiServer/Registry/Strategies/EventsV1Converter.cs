using System.Text.Json.Nodes;

namespace Tugboat.ApiServer.Registry.Strategies;

/// <summary>
/// events.k8s.io/v1 Event over core/v1 Event storage, with upstream's field mapping: regarding is involvedObject,
/// note is message, reportingController is reportingComponent, and the deprecated* fields are the core fields.
/// </summary>
internal sealed class EventsV1Converter : IVersionConverter
{
    private static readonly (string New, string Core)[] Renames =
    [
        ("regarding", "involvedObject"),
        ("note", "message"),
        ("reportingController", "reportingComponent"),
        ("deprecatedSource", "source"),
        ("deprecatedFirstTimestamp", "firstTimestamp"),
        ("deprecatedLastTimestamp", "lastTimestamp"),
        ("deprecatedCount", "count"),
    ];

    public JsonObject ToStored(JsonObject served) => Rename(served, "v1", toCore: true);

    public JsonObject FromStored(JsonObject stored) => Rename(stored, "events.k8s.io/v1", toCore: false);

    private static JsonObject Rename(JsonObject source, string apiVersion, bool toCore)
    {
        var result = new JsonObject();
        foreach (var (key, value) in source)
        {
            var name = key == "apiVersion" ? key : Renames.FirstOrDefault(r => (toCore ? r.New : r.Core) == key) is { New: not null } pair
                ? (toCore ? pair.Core : pair.New)
                : key;
            result[name] = value?.DeepClone();
        }
        result["apiVersion"] = apiVersion;
        return result;
    }
}
