namespace Tugboat.ApiServer.Registry;

/// <summary>What a strategy may need to know about the request it serves.</summary>
internal sealed class RequestContext
{
    public required Registry Registry { get; init; }
    public string? Namespace { get; init; }
    public DateTimeOffset Now { get; init; } = DateTimeOffset.UtcNow;
    public bool DryRun { get; init; }
}
