using Tugboat.Api.Meta;

namespace Tugboat.ApiServer.Registry;

/// <summary>metav1.ListOptions as parsed from a request's query.</summary>
internal sealed record ListOptions
{
    public LabelSelector Labels { get; init; } = LabelSelector.Everything;
    public FieldSelector Fields { get; init; } = FieldSelector.Everything;
    public int Limit { get; init; }
    public string? Continue { get; init; }
    public string? ResourceVersion { get; init; }
    public string? ResourceVersionMatch { get; init; }
    public bool AllowBookmarks { get; init; }
    public TimeSpan? Timeout { get; init; }
    public bool SendInitialEvents { get; init; }

    public bool HasSelectors => !Labels.IsEmpty || !Fields.IsEmpty;
}
