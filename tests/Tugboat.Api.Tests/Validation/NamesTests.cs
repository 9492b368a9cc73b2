using Tugboat.Api.Validation;

namespace Tugboat.Api.Tests.Validation;

public sealed class NamesTests
{
    [Theory]
    [InlineData("a", true)]
    [InlineData("my-app.example.com", true)]
    [InlineData("0abc", true)]
    [InlineData("Abc", false)]
    [InlineData("a_b", false)]
    [InlineData("-a", false)]
    [InlineData("a.", false)]
    [InlineData("", false)]
    public void Subdomains(string name, bool valid) => Assert.Equal(valid, Names.ValidateDns1123Subdomain(name).Count == 0);

    [Theory]
    [InlineData("web", true)]
    [InlineData("a.b", false)]
    [InlineData("1web", true)]
    public void Labels(string name, bool valid) => Assert.Equal(valid, Names.ValidateDns1123Label(name).Count == 0);

    [Theory]
    [InlineData("web", true)]
    [InlineData("1web", false)]
    public void ServiceNamesAreDns1035(string name, bool valid) => Assert.Equal(valid, Names.ValidateDns1035Label(name).Count == 0);

    [Fact]
    public void SubdomainsLongerThan253AreRejected() =>
        Assert.Contains("must be no more than 253 characters", Names.ValidateDns1123Subdomain(new string('a', 254)));

    [Theory]
    [InlineData("app", null)]
    [InlineData("example.com/app", null)]
    [InlineData("/app", "prefix part must be non-empty")]
    [InlineData("Example.com/app", "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")]
    public void QualifiedNames(string key, string? error) => Assert.Equal(error, Names.ValidateQualifiedName(key));

    [Theory]
    [InlineData("", true)]
    [InlineData("v1.2_x", true)]
    [InlineData("-x", false)]
    public void LabelValues(string value, bool valid) => Assert.Equal(valid, Names.ValidateLabelValue(value) is null);
}
