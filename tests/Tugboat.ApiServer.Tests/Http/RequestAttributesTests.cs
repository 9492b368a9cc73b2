using Microsoft.AspNetCore.Http;
using Tugboat.ApiServer.Http;

namespace Tugboat.ApiServer.Tests.Http;

/// <summary>The request's attributes as upstream's RequestInfoFactory reads them (its own test cases, and a few more).</summary>
public sealed class RequestAttributesTests
{
    private static RequestAttributes Of(string method, string url)
    {
        var http = new DefaultHttpContext();
        http.Request.Method = method;
        var q = url.IndexOf('?', StringComparison.Ordinal);
        http.Request.Path = q < 0 ? url : url[..q];
        http.Request.QueryString = new QueryString(q < 0 ? string.Empty : url[q..]);
        return RequestAttributes.Of(http.Request);
    }

    [Theory]
    [InlineData("GET", "/api/v1/namespaces", "list", "", "v1", "", "namespaces", "", "")]
    [InlineData("GET", "/api/v1/namespaces/other", "get", "", "v1", "other", "namespaces", "", "other")]
    [InlineData("GET", "/api/v1/namespaces/other/pods", "list", "", "v1", "other", "pods", "", "")]
    [InlineData("GET", "/api/v1/namespaces/other/pods/foo", "get", "", "v1", "other", "pods", "", "foo")]
    [InlineData("HEAD", "/api/v1/namespaces/other/pods/foo", "get", "", "v1", "other", "pods", "", "foo")]
    [InlineData("GET", "/api/v1/pods", "list", "", "v1", "", "pods", "", "")]
    [InlineData("GET", "/api/v1/proxy/namespaces/other/pods/foo/subpath/not/a/subresource", "proxy", "", "v1", "other", "pods", "", "foo")]
    [InlineData("GET", "/api/v1/watch/pods", "watch", "", "v1", "", "pods", "", "")]
    [InlineData("GET", "/api/v1/pods?watch=true", "watch", "", "v1", "", "pods", "", "")]
    [InlineData("GET", "/api/v1/pods?watch=false", "list", "", "v1", "", "pods", "", "")]
    [InlineData("GET", "/api/v1/watch/namespaces/other/pods", "watch", "", "v1", "other", "pods", "", "")]
    [InlineData("GET", "/api/v1/namespaces/other/pods?watch=1", "watch", "", "v1", "other", "pods", "", "")]
    [InlineData("GET", "/api/v1/namespaces/other/pods?watch=0", "list", "", "v1", "other", "pods", "", "")]
    [InlineData("GET", "/api/v1/namespaces/other/pods/foo/status", "get", "", "v1", "other", "pods", "status", "foo")]
    [InlineData("GET", "/api/v1/namespaces/other/pods/foo/proxy/subpath", "get", "", "v1", "other", "pods", "proxy", "foo")]
    [InlineData("PUT", "/api/v1/namespaces/other/finalize", "update", "", "v1", "other", "namespaces", "finalize", "other")]
    [InlineData("PUT", "/api/v1/namespaces/other/status", "update", "", "v1", "other", "namespaces", "status", "other")]
    [InlineData("PATCH", "/api/v1/namespaces/other/pods/foo", "patch", "", "v1", "other", "pods", "", "foo")]
    [InlineData("DELETE", "/api/v1/namespaces/other/pods/foo", "delete", "", "v1", "other", "pods", "", "foo")]
    [InlineData("POST", "/api/v1/namespaces/other/pods", "create", "", "v1", "other", "pods", "", "")]
    [InlineData("DELETE", "/api/v1/nodes", "deletecollection", "", "v1", "", "nodes", "", "")]
    [InlineData("DELETE", "/apis/extensions/v1/namespaces/other/pods", "deletecollection", "extensions", "v1", "other", "pods", "", "")]
    [InlineData("POST", "/apis/extensions/v1beta3/namespaces/other/pods", "create", "extensions", "v1beta3", "other", "pods", "", "")]
    [InlineData("POST", "/api/v1/namespaces/other/pods/foo/eviction", "create", "", "v1", "other", "pods", "eviction", "foo")]
    // A list narrowed to one name by a field selector is authorized for that name, as upstream's.
    [InlineData("GET", "/api/v1/namespaces/other/pods?fieldSelector=metadata.name%3Dfoo", "list", "", "v1", "other", "pods", "", "foo")]
    [InlineData("GET", "/api/v1/namespaces/other/pods?fieldSelector=metadata.name%3Dfoo,spec.nodeName%3Dn", "list", "", "v1", "other", "pods", "", "")]
    public void ResourceRequests(string method, string url, string verb, string group, string version, string ns, string resource, string subresource, string name)
    {
        var a = Of(method, url);
        Assert.True(a.IsResourceRequest);
        Assert.Equal((verb, group, version, ns, resource, subresource, name), (a.Verb, a.ApiGroup, a.ApiVersion, a.Namespace, a.Resource, a.Subresource, a.Name));
    }

    [Theory]
    [InlineData("GET", "/healthz", "get")]
    [InlineData("GET", "/api", "get")]
    [InlineData("GET", "/api/v1", "get")]
    [InlineData("GET", "/apis", "get")]
    [InlineData("GET", "/apis/apps/v1", "get")]
    [InlineData("POST", "/version", "post")]
    [InlineData("GET", "/openapi/v3/apis/apps/v1", "get")]
    public void NonResourceRequests(string method, string url, string verb)
    {
        var a = Of(method, url);
        Assert.False(a.IsResourceRequest);
        Assert.Equal(verb, a.Verb);
        Assert.Equal(url, a.Path);
    }

    [Fact]
    public void ANameFromTheSelectorIsNotANameInThePath()
    {
        Assert.False(Of("GET", "/api/v1/pods?fieldSelector=metadata.name%3Dx").NamedInPath);
        Assert.True(Of("GET", "/api/v1/namespaces/a/pods/x").NamedInPath);
        Assert.True(Of("GET", "/api/v1/pods").IsReadOnly);
        Assert.False(Of("POST", "/api/v1/namespaces/a/pods").IsReadOnly);
    }
}
