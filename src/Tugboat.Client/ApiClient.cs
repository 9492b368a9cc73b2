using System.Buffers;
using System.Net;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Text.Json.Nodes;
using Tugboat.Api.Serialization;

namespace Tugboat.Client;

/// <summary>
/// A REST client of the Kubernetes API over HTTPS, working with objects as JSON trees (like client-go's dynamic
/// client). Failures come back as <see cref="ApiError"/> carrying the server's Status.
/// </summary>
public sealed class ApiClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly string _userAgent;

    public ApiClient(ClientConfig config, string userAgent = "tugboat")
        : this(Handler(config ?? throw new ArgumentNullException(nameof(config))), config.Server, userAgent)
    {
        if (config.BearerToken is { } token)
        {
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
    }

    /// <summary>A client over any HTTP handler (an in-memory API in tests, for one).</summary>
    public ApiClient(HttpMessageHandler handler, Uri server, string userAgent = "tugboat")
    {
        _http = new HttpClient(new RetryAfterHandler(handler)) { BaseAddress = server, Timeout = Timeout.InfiniteTimeSpan };
        _userAgent = userAgent;
    }

    /// <summary>HTTPS to the cluster: its CA trusted alone, the client certificate when the config has one.</summary>
    private static SocketsHttpHandler Handler(ClientConfig config)
    {
        var handler = new SocketsHttpHandler { PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5) };
        handler.SslOptions.RemoteCertificateValidationCallback = (_, cert, _, _) =>
        {
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.Add(config.ClusterCa);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            return cert is X509Certificate2 c && chain.Build(c);
        };
        if (config.ClientCertificate is { } certificate)
        {
            handler.SslOptions.ClientCertificates = [certificate];
        }
        return handler;
    }

    public Task<JsonObject> GetAsync(string path, CancellationToken ct = default) => SendAsync(HttpMethod.Get, path, null, null, ct);

    public Task<JsonObject> CreateAsync(string path, JsonObject obj, CancellationToken ct = default) => SendAsync(HttpMethod.Post, path, obj, "application/json", ct);

    public Task<JsonObject> UpdateAsync(string path, JsonObject obj, CancellationToken ct = default) => SendAsync(HttpMethod.Put, path, obj, "application/json", ct);

    public Task<JsonObject> MergePatchAsync(string path, JsonObject patch, CancellationToken ct = default) => SendAsync(HttpMethod.Patch, path, patch, "application/merge-patch+json", ct);

    public Task<JsonObject> StrategicMergePatchAsync(string path, JsonObject patch, CancellationToken ct = default) => SendAsync(HttpMethod.Patch, path, patch, "application/strategic-merge-patch+json", ct);

    public Task<JsonObject> DeleteAsync(string path, JsonObject? options = null, CancellationToken ct = default) => SendAsync(HttpMethod.Delete, path, options, "application/json", ct);

    // For writers that have no use for the object the server answers with (events, bindings, heartbeats, a node's
    // status reports): the answer is checked for success and its body read, not parsed. At a thousand writes a
    // second, parsing answers nobody reads is a measurable part of a client's work and of what it allocates.

    /// <summary>As <see cref="CreateAsync"/>, without parsing the created object.</summary>
    public Task CreateIgnoringResultAsync(string path, JsonObject obj, CancellationToken ct = default) => SendIgnoringResultAsync(HttpMethod.Post, path, obj, "application/json", ct);

    /// <summary>As <see cref="MergePatchAsync"/>, without parsing the patched object.</summary>
    public Task MergePatchIgnoringResultAsync(string path, JsonObject patch, CancellationToken ct = default) => SendIgnoringResultAsync(HttpMethod.Patch, path, patch, "application/merge-patch+json", ct);

    /// <summary>As <see cref="DeleteAsync"/>, without parsing the answer.</summary>
    public Task DeleteIgnoringResultAsync(string path, JsonObject? options = null, CancellationToken ct = default) => SendIgnoringResultAsync(HttpMethod.Delete, path, options, "application/json", ct);

    /// <summary>Lists a collection (all pages); returns the items and the list's resourceVersion.</summary>
    public Task<(List<JsonObject> Items, string ResourceVersion)> ListAsync(string path, string? labelSelector = null, CancellationToken ct = default) =>
        ListAsync(path, labelSelector, null, ct);

    /// <summary>Lists a collection (all pages) filtered by label and field selectors; returns the items and the list's resourceVersion.</summary>
    public Task<(List<JsonObject> Items, string ResourceVersion)> ListAsync(string path, string? labelSelector, string? fieldSelector, CancellationToken ct) =>
        ListAsync(path, labelSelector, fieldSelector, dropManagedFields: false, ct);

    /// <summary>As the other overloads; with <paramref name="dropManagedFields"/> the items come without metadata.managedFields, cut from the bytes before parsing (for caches).</summary>
    public async Task<(List<JsonObject> Items, string ResourceVersion)> ListAsync(string path, string? labelSelector, string? fieldSelector, bool dropManagedFields, CancellationToken ct)
    {
        if (dropManagedFields)
        {
            var (cached, cachedRv) = await ListCachedAsync(path, labelSelector, fieldSelector, ct).ConfigureAwait(false);
            return (cached.ConvertAll(c => c.Object), cachedRv);
        }
        var items = new List<JsonObject>();
        string? cont = null;
        string rv;
        do
        {
            var page = await GetAsync(PageUrl(path, labelSelector, fieldSelector, cont), ct).ConfigureAwait(false);
            items.AddRange(page["items"]?.AsArray().OfType<JsonObject>().Select(i => (JsonObject)i.DeepClone()) ?? []);
            rv = page["metadata"]?["resourceVersion"]?.GetValue<string>() ?? "0";
            cont = page["metadata"]?["continue"]?.GetValue<string>();
        }
        while (!string.IsNullOrEmpty(cont));
        return (items, rv);
    }

    /// <summary>A list for a cache: items without metadata.managedFields, each with its key (<see cref="Informer.KeyOf"/>) read from the bytes.</summary>
    internal async Task<(List<(JsonObject Object, string Key)> Items, string ResourceVersion)> ListCachedAsync(string path, string? labelSelector, string? fieldSelector, CancellationToken ct)
    {
        var items = new List<(JsonObject Object, string Key)>();
        string? cont = null;
        string rv;
        do
        {
            var (pageItems, pageRv, pageContinue) = CachedJson.List(await GetBytesAsync(PageUrl(path, labelSelector, fieldSelector, cont), ct).ConfigureAwait(false));
            items.AddRange(pageItems);
            rv = pageRv ?? "0";
            cont = pageContinue;
        }
        while (!string.IsNullOrEmpty(cont));
        return (items, rv);
    }

    private static string PageUrl(string path, string? labelSelector, string? fieldSelector, string? cont)
    {
        var query = new List<string> { "limit=500" };
        if (labelSelector is not null)
        {
            query.Add("labelSelector=" + Uri.EscapeDataString(labelSelector));
        }
        if (fieldSelector is not null)
        {
            query.Add("fieldSelector=" + Uri.EscapeDataString(fieldSelector));
        }
        if (cont is not null)
        {
            query.Add("continue=" + Uri.EscapeDataString(cont));
        }
        return path + "?" + string.Join('&', query);
    }

    /// <summary>
    /// Watches a collection from <paramref name="resourceVersion"/>; ends when the server closes the stream. An ERROR
    /// event (such as 410 Expired) is returned as is: the caller re-lists.
    /// </summary>
    public IAsyncEnumerable<(string Type, JsonObject Object)> WatchAsync(string path, string resourceVersion, string? labelSelector = null, CancellationToken ct = default) =>
        WatchAsync(path, resourceVersion, labelSelector, null, ct);

    /// <summary>Watches a collection filtered by label and field selectors (see the other overload).</summary>
    public async IAsyncEnumerable<(string Type, JsonObject Object)> WatchAsync(string path, string resourceVersion, string? labelSelector, string? fieldSelector, [EnumeratorCancellation] CancellationToken ct)
    {
        await foreach (var line in WatchLinesAsync(path, resourceVersion, labelSelector, fieldSelector, ct).ConfigureAwait(false))
        {
            var e = JsonLimits.Parse(line.Span)!.AsObject();
            yield return (e["type"]!.GetValue<string>(), (JsonObject)e["object"]!);
        }
    }

    /// <summary>A watch for a cache: objects without metadata.managedFields, each with its key (<see cref="Informer.KeyOf"/>) read from the bytes.</summary>
    internal async IAsyncEnumerable<(string Type, JsonObject Object, string Key)> WatchCachedAsync(string path, string resourceVersion, string? labelSelector, string? fieldSelector, [EnumeratorCancellation] CancellationToken ct)
    {
        await foreach (var line in WatchLinesAsync(path, resourceVersion, labelSelector, fieldSelector, ct).ConfigureAwait(false))
        {
            yield return CachedJson.WatchEvent(line.Span);
        }
    }

    /// <summary>The lines of a watch stream (each valid until the next is read).</summary>
    private async IAsyncEnumerable<ReadOnlyMemory<byte>> WatchLinesAsync(string path, string resourceVersion, string? labelSelector, string? fieldSelector, [EnumeratorCancellation] CancellationToken ct)
    {
        var url = $"{path}?watch=1&allowWatchBookmarks=true&resourceVersion={Uri.EscapeDataString(resourceVersion)}";
        if (labelSelector is not null)
        {
            url += "&labelSelector=" + Uri.EscapeDataString(labelSelector);
        }
        if (fieldSelector is not null)
        {
            url += "&fieldSelector=" + Uri.EscapeDataString(fieldSelector);
        }
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.UserAgent.ParseAdd(_userAgent);
        // HTTP/1.1: each watch on its own connection (multiplexed .NET HTTP/2 watches stall under load).
        request.Version = HttpVersion.Version11;
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw await ApiError.FromAsync(response).ConfigureAwait(false);
        }
        using var stream = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        var lines = new LineReader(stream);
        while (await lines.ReadLineAsync(ct).ConfigureAwait(false) is { } line)
        {
            if (!line.IsEmpty)
            {
                yield return line;
            }
        }
    }

    private async Task<byte[]> GetBytesAsync(string path, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.UserAgent.ParseAdd(_userAgent);
        using var response = await _http.SendAsync(request, ct).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw await ApiError.FromAsync(response).ConfigureAwait(false);
        }
        return await response.Content.ReadAsByteArrayAsync(ct).ConfigureAwait(false);
    }

    private async Task<JsonObject> SendAsync(HttpMethod method, string path, JsonObject? body, string? contentType, CancellationToken ct)
    {
        using var request = Request(method, path, body, contentType);
        using var response = await _http.SendAsync(request, ct).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw await ApiError.FromAsync(response).ConfigureAwait(false);
        }
        var bytes = await response.Content.ReadAsByteArrayAsync(ct).ConfigureAwait(false);
        return bytes.Length == 0 ? [] : JsonLimits.Parse(bytes)?.AsObject() ?? [];
    }

    private async Task SendIgnoringResultAsync(HttpMethod method, string path, JsonObject? body, string? contentType, CancellationToken ct)
    {
        using var request = Request(method, path, body, contentType);
        using var response = await _http.SendAsync(request, ct).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw await ApiError.FromAsync(response).ConfigureAwait(false);
        }
    }

    private HttpRequestMessage Request(HttpMethod method, string path, JsonObject? body, string? contentType)
    {
        var request = new HttpRequestMessage(method, path);
        request.Headers.UserAgent.ParseAdd(_userAgent);
        if (body is not null)
        {
            // Bodies go out and come back as UTF-8 bytes, without strings in between.
            var buffer = new ArrayBufferWriter<byte>(1024);
            using (var writer = new Utf8JsonWriter(buffer))
            {
                body.WriteTo(writer);
            }
            request.Content = new ReadOnlyMemoryContent(buffer.WrittenMemory);
            request.Content.Headers.ContentType = new MediaTypeHeaderValue(contentType!);
        }
        return request;
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>A failed request, with the Status the server answered.</summary>
public sealed class ApiError(int code, string reason, string message) : Exception(message)
{
    public int Code { get; } = code;

    public string Reason { get; } = reason;

    public bool IsNotFound => Code == 404;

    public bool IsConflict => Code == 409 && Reason == "Conflict";

    public bool IsAlreadyExists => Code == 409 && Reason == "AlreadyExists";

    public static async Task<ApiError> FromAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync().ConfigureAwait(false);
        try
        {
            var status = JsonNode.Parse(text);
            return new ApiError((int)response.StatusCode, status?["reason"]?.GetValue<string>() ?? string.Empty, status?["message"]?.GetValue<string>() ?? text);
        }
        catch (System.Text.Json.JsonException)
        {
            return new ApiError((int)response.StatusCode, string.Empty, text);
        }
    }
}
