using System.Text.Json.Nodes;
using Tugboat.Api.Serialization;

namespace Tugboat.ApiServer.Registry;

/// <summary>metav1.DeleteOptions, from the request body and query.</summary>
/// <remarks>
/// kubectl sends <c>dryRun</c> in the body (DeleteOptions, and an Eviction's deleteOptions), other clients in the query;
/// either one makes the request a dry run, so the decision is made here and nowhere else.
/// </remarks>
internal sealed record DeleteOptions
{
    public long? GracePeriodSeconds { get; init; }
    public string? PropagationPolicy { get; init; }
    public string? PreconditionUid { get; init; }
    public string? PreconditionResourceVersion { get; init; }
    public bool DryRun { get; init; }

    /// <param name="body">The DeleteOptions of the body, if any.</param>
    /// <param name="query">Reads one query parameter (null when absent).</param>
    /// <param name="queryDryRun">Whether the query's (already checked) dryRun asked for a dry run.</param>
    public static DeleteOptions From(JsonObject? body, Func<string, string?> query, bool queryDryRun)
    {
        long? grace = body.Long("gracePeriodSeconds");
        if (query("gracePeriodSeconds") is { } g)
        {
            grace = long.TryParse(g, out var v) ? v : throw ApiException.BadRequest($"invalid gracePeriodSeconds: {g}");
        }
        var policy = body.Str("propagationPolicy") ?? query("propagationPolicy");
        if (policy is null && body.Bool("orphanDependents") is { } orphan)
        {
            policy = orphan ? "Orphan" : "Background";
        }
        else if (policy is null && query("orphanDependents") is { } orphanQ)
        {
            policy = orphanQ == "true" ? "Orphan" : "Background";
        }
        if (policy is not null and not ("Foreground" or "Background" or "Orphan"))
        {
            throw new ApiException(422, "Invalid", $"DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: \"{policy}\": supported values: \"Foreground\", \"Background\", \"Orphan\"");
        }
        var dryRun = BodyDryRun(body) || queryDryRun;
        return new DeleteOptions
        {
            GracePeriodSeconds = grace,
            PropagationPolicy = policy,
            PreconditionUid = body.Str("preconditions", "uid"),
            PreconditionResourceVersion = body.Str("preconditions", "resourceVersion"),
            DryRun = dryRun,
        };
    }

    /// <summary>The body's dryRun list: empty for a real delete, ["All"] for a dry run; anything else is 422 as upstream.</summary>
    private static bool BodyDryRun(JsonObject? body)
    {
        if (body?["dryRun"] is not { } node)
        {
            return false;
        }
        if (node is not JsonArray values || values.Any(v => v is not JsonValue s || !s.TryGetValue<string>(out var text) || text != "All"))
        {
            var rendered = node is JsonArray list
                ? "[]string{" + string.Join(", ", list.Select(v => v?.ToJsonString(JsonLimits.Writer) ?? "null")) + "}"
                : node.ToJsonString(JsonLimits.Writer);
            throw ApiException.Invalid("DeleteOptions", "meta.k8s.io", string.Empty,
                [new FieldError("FieldValueNotSupported", "dryRun", $"Unsupported value: {rendered}: supported values: \"All\"")]);
        }
        return values.Count > 0;
    }
}
