using System.Text.Json.Nodes;

namespace Tugboat.ApiServer.Registry;

/// <summary>metav1.DeleteOptions, from the request body and query.</summary>
internal sealed record DeleteOptions
{
    public long? GracePeriodSeconds { get; init; }
    public string? PropagationPolicy { get; init; }
    public string? PreconditionUid { get; init; }
    public string? PreconditionResourceVersion { get; init; }
    public bool DryRun { get; init; }

    public static DeleteOptions From(JsonObject? body, Func<string, string?> query)
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
        var dryRun = body.Arr("dryRun") is { Count: > 0 } || query("dryRun") is { Length: > 0 };
        return new DeleteOptions
        {
            GracePeriodSeconds = grace,
            PropagationPolicy = policy,
            PreconditionUid = body.Str("preconditions", "uid"),
            PreconditionResourceVersion = body.Str("preconditions", "resourceVersion"),
            DryRun = dryRun,
        };
    }
}
