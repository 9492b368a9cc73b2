namespace Tugboat.ApiServer.Http;

/// <summary>The media types the API negotiates.</summary>
internal static class MediaTypes
{
    public const string Json = "application/json";
    public const string Yaml = "application/yaml";
    public const string MergePatch = "application/merge-patch+json";
    public const string JsonPatch = "application/json-patch+json";
    public const string StrategicMergePatch = "application/strategic-merge-patch+json";
    public const string ApplyPatch = "application/apply-patch+yaml";

    /// <summary>The representation the client asked for through Accept's <c>as=</c> parameter.</summary>
    public enum Output
    {
        Object,
        Table,
        PartialObjectMetadata,
    }

    public static Output Negotiate(string? accept)
    {
        if (string.IsNullOrEmpty(accept))
        {
            return Output.Object;
        }
        // The first acceptable entry wins, as upstream's negotiation does for kubectl's ordered Accept list.
        foreach (var entry in accept.Split(','))
        {
            var e = entry.Trim();
            var parts = e.Split(';', StringSplitOptions.TrimEntries);
            var mime = parts[0];
            if (mime is not (Json or "*/*" or "application/*"))
            {
                continue;
            }
            var asParam = parts.Skip(1).FirstOrDefault(p => p.StartsWith("as=", StringComparison.Ordinal))?[3..];
            var g = parts.Skip(1).FirstOrDefault(p => p.StartsWith("g=", StringComparison.Ordinal))?[2..];
            var v = parts.Skip(1).FirstOrDefault(p => p.StartsWith("v=", StringComparison.Ordinal))?[2..];
            switch (asParam)
            {
                case null:
                    return Output.Object;
                case "Table" when g == "meta.k8s.io" && v is "v1" or "v1beta1":
                    return Output.Table;
                case "PartialObjectMetadata" or "PartialObjectMetadataList" when g == "meta.k8s.io" && v is "v1" or "v1beta1":
                    return Output.PartialObjectMetadata;
            }
        }
        throw new Registry.ApiException(406, "NotAcceptable", "only the following media types are accepted: application/json, application/yaml, application/json;as=Table;v=v1;g=meta.k8s.io, application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io");
    }
}
