namespace Tugboat.ApiServer.Registry;

/// <summary>
/// Who makes a write, for field ownership: the field manager, the API version the request used, and the subresource
/// it came through when that is not the one the registry writes (scale writes the main resource).
/// </summary>
internal sealed record FieldOwner(string Manager, string ApiVersion, string? Subresource = null);
