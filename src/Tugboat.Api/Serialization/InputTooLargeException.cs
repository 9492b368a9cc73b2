namespace Tugboat.Api.Serialization;

/// <summary>A decoded document would exceed the size allowed for it (upstream's 413 RequestEntityTooLarge).</summary>
public sealed class InputTooLargeException(string message) : FormatException(message);
