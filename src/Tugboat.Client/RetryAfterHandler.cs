using System.Net;

namespace Tugboat.Client;

/// <summary>
/// Retries as client-go does: an answer of 429 (the server's flow control turned the request away), or a 5xx that says
/// when to come back, is sent again after its <c>Retry-After</c> (at most 10 s, 10 times); the caller sees only the
/// last answer.
/// </summary>
internal sealed class RetryAfterHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
{
    private const int MaxRetries = 10;
    private static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(10);

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            var response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
            var retryAfter = response.Headers.RetryAfter;
            var retry = response.StatusCode == HttpStatusCode.TooManyRequests || ((int)response.StatusCode >= 500 && retryAfter is not null);
            if (!retry || attempt == MaxRetries)
            {
                return response;
            }
            var wait = retryAfter?.Delta ?? (retryAfter?.Date - DateTimeOffset.UtcNow) ?? TimeSpan.FromSeconds(1);
            response.Dispose();
            await Task.Delay(wait < TimeSpan.Zero ? TimeSpan.Zero : wait > MaxWait ? MaxWait : wait, cancellationToken).ConfigureAwait(false);
        }
    }
}
