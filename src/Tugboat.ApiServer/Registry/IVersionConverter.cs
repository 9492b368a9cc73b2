using System.Text.Json.Nodes;

namespace Tugboat.ApiServer.Registry;

/// <summary>Converts objects between a served version and the version they are stored in; both directions return new objects.</summary>
internal interface IVersionConverter
{
    JsonObject ToStored(JsonObject served);

    JsonObject FromStored(JsonObject stored);
}
