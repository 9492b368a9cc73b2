using System.Text.Json.Nodes;

namespace Tugboat.Api.Schema;

/// <summary>One violation of a structural schema: the kind of error (as upstream's field error types), the field path, the value, and the detail.</summary>
public sealed record SchemaError(SchemaErrorType Type, string Path, JsonNode? Value, string Detail);

public enum SchemaErrorType
{
    Required,
    Invalid,
    NotSupported,
    TooLong,
    TooMany,
}
