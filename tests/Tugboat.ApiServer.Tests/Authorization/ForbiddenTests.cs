using Microsoft.AspNetCore.Http;
using Tugboat.ApiServer.Authorization;
using Tugboat.ApiServer.Http;
using Tugboat.ApiServer.Security;

namespace Tugboat.ApiServer.Tests.Authorization;

/// <summary>A refused request is worded as upstream's (responsewriters.ForbiddenStatusError and apierrors.NewForbidden).</summary>
public sealed class ForbiddenTests
{
    private static readonly UserInfo Alice = new("alice", ["system:authenticated"]);

    private static RequestAttributes Of(string method, string path)
    {
        var http = new DefaultHttpContext();
        http.Request.Method = method;
        http.Request.Path = path;
        return RequestAttributes.Of(http.Request);
    }

    [Theory]
    [InlineData("GET", "/api/v1/namespaces/default/pods", "", "pods is forbidden: User \"alice\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\"")]
    [InlineData("GET", "/api/v1/namespaces/default/pods/web", "", "pods \"web\" is forbidden: User \"alice\" cannot get resource \"pods\" in API group \"\" in the namespace \"default\"")]
    [InlineData("POST", "/api/v1/namespaces/default/pods/web/exec", "", "pods \"web\" is forbidden: User \"alice\" cannot create resource \"pods/exec\" in API group \"\" in the namespace \"default\"")]
    [InlineData("DELETE", "/apis/apps/v1/namespaces/a/deployments", "", "deployments.apps is forbidden: User \"alice\" cannot deletecollection resource \"deployments\" in API group \"apps\" in the namespace \"a\"")]
    [InlineData("GET", "/api/v1/nodes", "", "nodes is forbidden: User \"alice\" cannot list resource \"nodes\" in API group \"\" at the cluster scope")]
    [InlineData("GET", "/api/v1/nodes", "no RBAC policy matched", "nodes is forbidden: User \"alice\" cannot list resource \"nodes\" in API group \"\" at the cluster scope: no RBAC policy matched")]
    [InlineData("GET", "/logs/<x>", "", "forbidden: User \"alice\" cannot get path \"/logs/&lt;x&gt;\"")]
    public void Messages(string method, string path, string reason, string message)
    {
        var e = Forbidden.For(Alice, Of(method, path), reason);
        Assert.Equal(403, e.Code);
        Assert.Equal("Forbidden", e.Reason);
        Assert.Equal(message, e.Message);
    }

    [Fact]
    public void DetailsNameTheGroupAndResource()
    {
        var status = Forbidden.For(Alice, Of("GET", "/apis/apps/v1/namespaces/a/deployments/web"), string.Empty).ToStatus();
        Assert.Equal("web", status["details"]!["name"]!.GetValue<string>());
        Assert.Equal("apps", status["details"]!["group"]!.GetValue<string>());
        Assert.Equal("deployments", status["details"]!["kind"]!.GetValue<string>());
    }

    [Fact]
    public async Task TheDefaultAuthorizerAllowsEveryone()
    {
        var (decision, _) = await new AlwaysAllowAuthorizer().AuthorizeAsync(Alice, Of("DELETE", "/api/v1/nodes/n1"), CancellationToken.None);
        Assert.Equal(Decision.Allow, decision);
    }
}
