using System.Text.Json.Nodes;
using Tugboat.Api.Scheduling;

namespace Tugboat.Api.Tests.Scheduling;

/// <summary>The shared taint/toleration and node-selector rules, on upstream's cases.</summary>
public sealed class SchedulingRulesTests
{
    private static JsonObject J(string json) => JsonNode.Parse(json)!.AsObject();

    [Theory]
    [InlineData("""{"key":"k","operator":"Equal","value":"v","effect":"NoSchedule"}""", "k", "v", "NoSchedule", true)]
    [InlineData("""{"key":"k","operator":"Equal","value":"v","effect":"NoSchedule"}""", "k", "w", "NoSchedule", false)]
    [InlineData("""{"key":"k","operator":"Equal","value":"v","effect":"NoSchedule"}""", "k", "v", "NoExecute", false)]
    [InlineData("""{"key":"k","operator":"Exists"}""", "k", "anything", "NoExecute", true)]
    [InlineData("""{"operator":"Exists"}""", "any-key", null, "NoSchedule", true)]
    [InlineData("""{"key":"k","value":"v"}""", "k", "v", "PreferNoSchedule", true)]
    [InlineData("""{"operator":"Equal","value":"v"}""", "k", "v", "NoSchedule", false)]
    [InlineData("""{"key":"k","operator":"Gt","value":"1"}""", "k", "2", "NoSchedule", false)]
    public void Tolerations_match_as_upstreams_ToleratesTaint(string toleration, string key, string? value, string effect, bool tolerated) =>
        Assert.Equal(tolerated, Tolerations.Tolerates(J(toleration), key, value, effect));

    private static readonly Dictionary<string, string> Labels = new() { ["zone"] = "a", ["gpu"] = "4" };

    [Theory]
    [InlineData("""{"matchExpressions":[{"key":"zone","operator":"In","values":["a","b"]}]}""", true)]
    [InlineData("""{"matchExpressions":[{"key":"zone","operator":"NotIn","values":["a"]}]}""", false)]
    [InlineData("""{"matchExpressions":[{"key":"ssd","operator":"DoesNotExist"}]}""", true)]
    [InlineData("""{"matchExpressions":[{"key":"gpu","operator":"Gt","values":["2"]}]}""", true)]
    [InlineData("""{"matchExpressions":[{"key":"gpu","operator":"Lt","values":["2"]}]}""", false)]
    [InlineData("""{"matchFields":[{"key":"metadata.name","operator":"In","values":["n1"]}]}""", true)]
    [InlineData("""{"matchFields":[{"key":"metadata.uid","operator":"In","values":["n1"]}]}""", false)]
    [InlineData("""{"matchExpressions":[{"key":"zone","operator":"In","values":["a"]}],"matchFields":[{"key":"metadata.name","operator":"NotIn","values":["n1"]}]}""", false)]
    [InlineData("""{}""", false)]
    public void Node_selector_terms_match_labels_and_the_name(string term, bool matches) =>
        Assert.Equal(matches, NodeSelectors.Matches(J(term), Labels, "n1"));
}
