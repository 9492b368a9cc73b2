using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace Tugboat.Client.Tests;

public sealed class RetryAfterTests
{
    /// <summary>Answers each request with the next of its answers and counts what it was sent.</summary>
    private sealed class Scripted(params Func<HttpResponseMessage>[] answers) : HttpMessageHandler
    {
        public List<string> Bodies { get; } = [];

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Bodies.Add(request.Content is null ? string.Empty : await request.Content.ReadAsStringAsync(cancellationToken));
            return answers[Math.Min(Bodies.Count - 1, answers.Length - 1)]();
        }
    }

    private static HttpResponseMessage TooMany()
    {
        var r = new HttpResponseMessage(HttpStatusCode.TooManyRequests) { Content = new StringContent("Too many requests, please try again later.\n") };
        r.Headers.RetryAfter = new System.Net.Http.Headers.RetryConditionHeaderValue(TimeSpan.Zero);
        return r;
    }

    private static HttpResponseMessage Created() =>
        new(HttpStatusCode.Created) { Content = new StringContent("""{"kind":"ConfigMap","metadata":{"name":"a"}}""", Encoding.UTF8, "application/json") };

    [Fact]
    public async Task TooManyRequestsIsSentAgainWithTheSameBody()
    {
        var api = new Scripted(TooMany, TooMany, Created);
        using var client = new ApiClient(api, new Uri("https://127.0.0.1:1"));
        var created = await client.CreateAsync("/api/v1/namespaces/a/configmaps", new JsonObject { ["kind"] = "ConfigMap", ["metadata"] = new JsonObject { ["name"] = "a" } });
        Assert.Equal("a", created["metadata"]!["name"]!.GetValue<string>());
        Assert.Equal(3, api.Bodies.Count);
        Assert.All(api.Bodies, b => Assert.Equal("""{"kind":"ConfigMap","metadata":{"name":"a"}}""", b));
    }

    [Fact]
    public async Task AfterTenRetriesTheRefusalReachesTheCaller()
    {
        var api = new Scripted(TooMany);
        using var client = new ApiClient(api, new Uri("https://127.0.0.1:1"));
        var e = await Assert.ThrowsAsync<ApiError>(() => client.GetAsync("/api/v1/pods"));
        Assert.Equal(429, e.Code);
        Assert.Equal(11, api.Bodies.Count);
    }

    [Fact]
    public async Task ServerErrorsWithoutRetryAfterAreNotRetried()
    {
        var api = new Scripted(() => new HttpResponseMessage(HttpStatusCode.InternalServerError) { Content = new StringContent("""{"kind":"Status","code":500,"reason":"InternalError","message":"boom"}""") });
        using var client = new ApiClient(api, new Uri("https://127.0.0.1:1"));
        Assert.Equal(500, (await Assert.ThrowsAsync<ApiError>(() => client.GetAsync("/api/v1/pods"))).Code);
        Assert.Single(api.Bodies);
    }
}
