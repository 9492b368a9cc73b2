using System.Text.Json.Nodes;

namespace Tugboat.Controllers.Tests.Fakes;

/// <summary>Short hands the controller tests share for writing and reading objects.</summary>
public static class Objects
{
    public static JsonObject O(string json) => JsonNode.Parse(json)!.AsObject();

    public static string Name(JsonObject o) => o["metadata"]!["name"]!.GetValue<string>();

    public static long L(JsonNode? n) => n?.GetValue<long>() ?? 0;
}
