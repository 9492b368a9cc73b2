using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace Tugboat.E2E.Tests;

/// <summary>
/// Requests an attacker with a valid certificate could send: each gets upstream's 4xx at once, the server stays up and
/// its memory bounded, and nothing stored changes.
/// </summary>
public sealed class HostileInputTests(ApiOnlyServerFixture fixture) : IClassFixture<ApiOnlyServerFixture>
{
    private async Task<(HttpStatusCode Code, JsonNode? Body, TimeSpan Took)> SendAsync(HttpMethod method, string path, HttpContent? content = null)
    {
        using var client = fixture.Server.AdminClient();
        var clock = Stopwatch.StartNew();
        using var response = await client.SendAsync(new HttpRequestMessage(method, path) { Content = content });
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text), clock.Elapsed);
    }

    private static string Message(JsonNode? status) => status?["message"]?.GetValue<string>() ?? string.Empty;

    private async Task<string> RevisionAsync() =>
        (await SendAsync(HttpMethod.Get, "/api/v1/namespaces?limit=1")).Body!["metadata"]!["resourceVersion"]!.GetValue<string>();

    [Theory]
    [InlineData("/api/v1/pods?watch=1&resourceVersion=abc", "invalid resource version: resourceVersion: Invalid value: \"abc\": strconv.ParseUint: parsing \"abc\": invalid syntax")]
    [InlineData("/api/v1/namespaces/default/configmaps?resourceVersion=-1", "invalid resource version: resourceVersion: Invalid value: \"-1\": strconv.ParseUint: parsing \"-1\": invalid syntax")]
    [InlineData("/api/v1/pods?resourceVersion=99999999999999999999999", "invalid resource version: resourceVersion: Invalid value: \"99999999999999999999999\": strconv.ParseUint: parsing \"99999999999999999999999\": value out of range")]
    [InlineData("/api/v1/pods?fieldSelector=spec.nodeName%3D%3D%3Dx", "invalid field selector: unescaped character in value: 61")]
    [InlineData("/api/v1/pods?watch=1&fieldSelector=spec.nodeName", "invalid selector: 'spec.nodeName'; can't understand 'spec.nodeName'")]
    [InlineData("/api/v1/pods?limit=-5", "limit: Invalid value: \"-5\": must be a non-negative integer")]
    public async Task MalformedListAndWatchParametersAreBadRequests(string path, string message)
    {
        var (code, body, _) = await SendAsync(HttpMethod.Get, path);
        Assert.Equal(HttpStatusCode.BadRequest, code);
        Assert.Equal(message, Message(body));
    }
}
