using System.Text.Json.Nodes;
using Tugboat.Api.Meta;

namespace Tugboat.Api.Tests.Meta;

public sealed class LabelSelectorTests
{
    private static readonly Dictionary<string, string> Labels = new() { ["app"] = "web", ["tier"] = "fe", ["env"] = "prod" };

    [Theory]
    [InlineData("", true)]
    [InlineData("app=web", true)]
    [InlineData("app==web", true)]
    [InlineData("app=db", false)]
    [InlineData("app!=db", true)]
    [InlineData("missing!=x", true)]
    [InlineData("app in (web,db)", true)]
    [InlineData("app in (db)", false)]
    [InlineData("app notin (db, cache)", true)]
    [InlineData("app notin (web)", false)]
    [InlineData("missing notin (web)", true)]
    [InlineData("tier", true)]
    [InlineData("missing", false)]
    [InlineData("!missing", true)]
    [InlineData("!app", false)]
    [InlineData("app=web,tier=fe, env in (prod)", true)]
    [InlineData("app=web,tier=be", false)]
    public void MatchesAsUpstream(string selector, bool expected) =>
        Assert.Equal(expected, LabelSelector.Parse(selector).Matches(Labels));

    [Theory]
    [InlineData("app in")]
    [InlineData("app in (a")]
    [InlineData("app=web,")]
    [InlineData("app=web x")]
    [InlineData("bad key!=x")]
    [InlineData("app=bad value with spaces")]
    [InlineData("app=-leadingdash")]
    public void RejectsMalformedSelectors(string selector) =>
        Assert.Throws<FormatException>(() => LabelSelector.Parse(selector));

    [Fact]
    public void ConvertsTheObjectFormToTheCanonicalString()
    {
        var json = JsonNode.Parse("""{"matchLabels":{"b":"2","a":"1"},"matchExpressions":[{"key":"c","operator":"In","values":["y","x"]},{"key":"d","operator":"DoesNotExist"}]}""");
        var selector = LabelSelector.FromJson(json);
        Assert.Equal("a=1,b=2,c in (x,y),!d", selector.ToString());
        Assert.True(selector.Matches(new Dictionary<string, string> { ["a"] = "1", ["b"] = "2", ["c"] = "x" }));
        Assert.False(selector.Matches(new Dictionary<string, string> { ["a"] = "1", ["b"] = "2", ["c"] = "x", ["d"] = "" }));
    }

    [Fact]
    public void RejectsUnknownOperatorsInTheObjectForm() =>
        Assert.Throws<FormatException>(() => LabelSelector.FromJson(JsonNode.Parse("""{"matchExpressions":[{"key":"a","operator":"Gt","values":["1"]}]}""")));
}

public sealed class FieldSelectorTests
{
    [Fact]
    public void MatchesEqualityAndInequality()
    {
        var fields = new Dictionary<string, string> { ["metadata.name"] = "a", ["status.phase"] = "Running" };
        string? Get(string f) => fields.GetValueOrDefault(f);
        Assert.True(FieldSelector.Parse("metadata.name=a,status.phase!=Pending").Matches(Get));
        Assert.True(FieldSelector.Parse("metadata.name==a").Matches(Get));
        Assert.False(FieldSelector.Parse("status.phase=Pending").Matches(Get));
        Assert.True(FieldSelector.Parse("spec.nodeName=").Matches(Get));
        Assert.True(FieldSelector.Parse("").IsEmpty);
    }

    [Fact]
    public void UnescapesValuesAndRejectsTermsWithoutOperator()
    {
        var s = FieldSelector.Parse(@"metadata.name=a\,b");
        Assert.Equal("a,b", Assert.Single(s.Requirements).Value);
        Assert.Throws<FormatException>(() => FieldSelector.Parse("metadata.name"));
    }

    [Theory]
    [InlineData("spec.nodeName===x", "invalid field selector: unescaped character in value: 61")]
    [InlineData("metadata.name=a=b", "invalid field selector: unescaped character in value: 61")]
    [InlineData(@"metadata.name=a\x", @"invalid field selector: invalid escape sequence: \x")]
    [InlineData(@"metadata.name=a\", @"invalid field selector: invalid escape sequence: \")]
    [InlineData("a,metadata.name", "invalid selector: 'a,metadata.name'; can't understand 'a'")]
    public void MalformedSelectorsFailWithUpstreamsMessages(string selector, string message) =>
        Assert.Equal(message, Assert.Throws<FormatException>(() => FieldSelector.Parse(selector)).Message);

    [Fact]
    public void TheFirstOperatorFromTheLeftSplitsTheTerm()
    {
        var r = Assert.Single(FieldSelector.Parse(@"spec.nodeName!=\=x").Requirements);
        Assert.Equal(("spec.nodeName", false, "=x"), (r.Field, r.Equal, r.Value));
        r = Assert.Single(FieldSelector.Parse(@"a==b\\").Requirements);
        Assert.Equal(("a", true, @"b\"), (r.Field, r.Equal, r.Value));
    }
}
