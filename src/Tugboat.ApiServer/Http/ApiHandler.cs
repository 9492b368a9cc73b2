using Microsoft.AspNetCore.Http;
using Tugboat.ApiServer.Authorization;
using Tugboat.ApiServer.Handlers;
using Tugboat.ApiServer.Registry;
using Tugboat.ApiServer.Security;
using static Tugboat.ApiServer.Handlers.Responses;

namespace Tugboat.ApiServer.Http;

/// <summary>
/// The API server's request pipeline, in upstream's order: authentication (401 without an identity), the request's
/// attributes read from its path, flow control (a seat in its priority level, or 429), authorization (403 with
/// upstream's words), then routing — discovery, health and OpenAPI here, resources to <see cref="ResourceHandler"/>,
/// where admission runs inside the registry's writes. Errors become upstream-shaped Status answers.
/// </summary>
internal sealed partial class ApiHandler(Registry.Registry registry, Discovery discovery, ServerIdentity identity, Filters.PriorityAndFairness flowControl,
    IAuthorizer authorizer, ResourceHandler resources, Microsoft.Extensions.Logging.ILogger<ApiHandler> logger)
{
    private OpenApi? _openApiCache;

    // Built on first use (start-up should not wait for documents only some clients ask for) and again whenever the
    // catalog changes (custom resources come and go).
    private OpenApi CurrentOpenApi
    {
        get
        {
            var cached = _openApiCache;
            if (cached is null || cached.CatalogVersion != registry.Catalog.Version)
            {
                cached = new OpenApi(registry.Catalog);
                _openApiCache = cached;
            }
            return cached;
        }
    }

    public async Task HandleAsync(HttpContext http)
    {
        try
        {
            if (http.Request.Path.Value == "/cacerts" && http.Request.Method == "GET")
            {
                // Public by design (as k3s's): the CA certificate only; a joining agent verifies it with its token.
                http.Response.ContentType = "text/plain; charset=utf-8";
                await http.Response.WriteAsync(identity.CaPem).ConfigureAwait(false);
                return;
            }
            var user = identity.Authenticate(http) ?? throw new ApiException(401, "Unauthorized", "Unauthorized");
            http.Items[typeof(UserInfo)] = user;
            var attributes = RequestAttributes.Of(http.Request);
            using var seat = await flowControl.AdmitAsync(user, attributes, http).ConfigureAwait(false);
            var (decision, reason) = await authorizer.AuthorizeAsync(user, attributes, http.RequestAborted).ConfigureAwait(false);
            if (decision != Decision.Allow)
            {
                throw Forbidden.For(user, attributes, reason);
            }
            await RouteAsync(http).ConfigureAwait(false);
        }
        catch (ApiException e)
        {
            await WriteStatusAsync(http, e).ConfigureAwait(false);
        }
        catch (Filters.TooManyRequestsException) when (!http.Response.HasStarted)
        {
            // Upstream's answer, word for word: plain text, and a second to wait (client-go retries after it).
            http.Response.StatusCode = 429;
            http.Response.Headers.RetryAfter = "1";
            http.Response.Headers["X-Content-Type-Options"] = "nosniff";
            http.Response.ContentType = "text/plain; charset=utf-8";
            await http.Response.WriteAsync("Too many requests, please try again later.\n").ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
        }
        catch (Exception e) when (!http.Response.HasStarted)
        {
            // A bug, not bad input: answer as upstream does (500 InternalError) and keep the details in the log.
            LogUnexpected(http.Request.Method, http.Request.Path.Value ?? string.Empty, e);
            await WriteStatusAsync(http, new ApiException(500, "InternalError", "Internal error occurred: " + e.Message)).ConfigureAwait(false);
        }
    }

    [Microsoft.Extensions.Logging.LoggerMessage(Level = Microsoft.Extensions.Logging.LogLevel.Error, Message = "{Method} {Path} failed")]
    private partial void LogUnexpected(string method, string path, Exception e);

    private async Task RouteAsync(HttpContext http)
    {
        var path = http.Request.Path.Value ?? "/";
        var segs = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var method = http.Request.Method;
        switch (segs)
        {
            case ["healthz" or "livez" or "readyz", ..]:
                RequireGet(method);
                http.Response.ContentType = "text/plain; charset=utf-8";
                await http.Response.WriteAsync("ok").ConfigureAwait(false);
                return;
            case ["version"]:
                RequireGet(method);
                await WriteJsonAsync(http, 200, identity.Version()).ConfigureAwait(false);
                return;
            case ["api"]:
                RequireGet(method);
                await WriteJsonAsync(http, 200, discovery.ApiVersions(identity.AdvertiseAddress)).ConfigureAwait(false);
                return;
            case ["apis"]:
                RequireGet(method);
                await WriteJsonAsync(http, 200, discovery.GroupList()).ConfigureAwait(false);
                return;
            case ["api", var v]:
                RequireGet(method);
                await WriteJsonAsync(http, 200, discovery.ResourceList(string.Empty, v) ?? throw ApiException.NotFoundPath()).ConfigureAwait(false);
                return;
            case ["apis", var g]:
                RequireGet(method);
                await WriteJsonAsync(http, 200, discovery.Group(g) ?? throw ApiException.NotFoundPath()).ConfigureAwait(false);
                return;
            case ["apis", var g, var v]:
                RequireGet(method);
                await WriteJsonAsync(http, 200, discovery.ResourceList(g, v) ?? throw ApiException.NotFoundPath()).ConfigureAwait(false);
                return;
            case ["openapi", "v3"]:
                RequireGet(method);
                await WriteBytesAsync(http, CurrentOpenApi.Index).ConfigureAwait(false);
                return;
            case ["openapi", "v3", .. var gv]:
                RequireGet(method);
                await WriteBytesAsync(http, CurrentOpenApi.Find(string.Join('/', gv)) ?? throw ApiException.NotFoundPath()).ConfigureAwait(false);
                return;
            case ["openapi", "v2"] or ["swagger-2.0.0.pb-v1"] or ["swagger.json"]:
                RequireGet(method);
                var protobuf = segs[0] == "swagger-2.0.0.pb-v1" || http.Request.Headers.Accept.ToString().Contains("protobuf", StringComparison.Ordinal);
                http.Response.StatusCode = 200;
                http.Response.ContentType = protobuf ? OpenApiV2.ProtobufMediaType : MediaTypes.Json;
                await http.Response.BodyWriter.WriteAsync(protobuf ? CurrentOpenApi.V2.Protobuf : CurrentOpenApi.V2.Json, http.RequestAborted).ConfigureAwait(false);
                return;
            case ["api", var v, .. var rest]:
                await resources.HandleAsync(http, RequestInfo.Parse(registry.Catalog, string.Empty, v, rest) ?? throw ApiException.NotFoundPath()).ConfigureAwait(false);
                return;
            case ["apis", var g, var v, .. var rest]:
                await resources.HandleAsync(http, RequestInfo.Parse(registry.Catalog, g, v, rest) ?? throw ApiException.NotFoundPath()).ConfigureAwait(false);
                return;
            default:
                throw ApiException.NotFoundPath();
        }
    }

    private static void RequireGet(string method)
    {
        if (method is not ("GET" or "HEAD"))
        {
            throw ApiException.MethodNotAllowed($"the server does not allow this method on the requested resource");
        }
    }

}
