using Microsoft.AspNetCore.Http;

namespace Tugboat.ApiServer.Http;

/// <summary>
/// What a request asks for, read from its method, path and query alone (no catalog), as upstream's RequestInfoFactory
/// reads it: whether it names a resource, the verb (get, list, watch, create, update, patch, delete, deletecollection,
/// proxy; the HTTP method in lower case for other paths), API group and version, namespace, resource, subresource and
/// name. Flow control and authorization decide from these, before the path is resolved to a served kind.
/// </summary>
internal sealed record RequestAttributes
{
    public bool IsResourceRequest { get; init; }

    public required string Path { get; init; }

    public required string Verb { get; init; }

    public string ApiGroup { get; init; } = string.Empty;

    public string ApiVersion { get; init; } = string.Empty;

    public string Namespace { get; init; } = string.Empty;

    public string Resource { get; init; } = string.Empty;

    public string Subresource { get; init; } = string.Empty;

    public string Name { get; init; } = string.Empty;

    /// <summary>Whether the path itself names an object (a name from a field selector does not count).</summary>
    public bool NamedInPath { get; init; }

    /// <summary>Verbs that change nothing.</summary>
    public bool IsReadOnly => Verb is "get" or "list" or "watch";

    public static RequestAttributes Of(HttpRequest request)
    {
        var path = request.Path.Value ?? "/";
        var method = request.Method;
        var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var nonResource = new RequestAttributes { Path = path, Verb = method.ToLowerInvariant() };
        if (parts.Length < 3 || parts[0] is not ("api" or "apis"))
        {
            return nonResource;
        }
        var rest = parts.AsSpan(1);
        var group = string.Empty;
        if (parts[0] == "apis")
        {
            if (rest.Length < 3)
            {
                return nonResource;
            }
            group = rest[0];
            rest = rest[1..];
        }
        var version = rest[0];
        rest = rest[1..];
        string verb;
        if (rest[0] is "watch" or "proxy")
        {
            if (rest.Length < 2)
            {
                // Upstream answers such paths as it can; nothing names a resource here.
                return nonResource;
            }
            verb = rest[0];
            rest = rest[1..];
        }
        else
        {
            verb = method switch
            {
                "POST" => "create",
                "GET" or "HEAD" => "get",
                "PUT" => "update",
                "PATCH" => "patch",
                "DELETE" => "delete",
                _ => string.Empty,
            };
        }
        var ns = string.Empty;
        if (rest[0] == "namespaces" && rest.Length > 1)
        {
            ns = rest[1];
            // namespaces/{name}/status and /finalize are the namespace's own subresources.
            if (rest.Length > 2 && rest[2] is not ("status" or "finalize"))
            {
                rest = rest[2..];
            }
        }
        var resource = rest[0];
        var name = rest.Length >= 2 ? rest[1] : string.Empty;
        var subresource = rest.Length >= 3 && verb != "proxy" ? rest[2] : string.Empty;
        var named = name.Length > 0;
        if (name.Length == 0 && verb == "get")
        {
            var watch = request.Query["watch"].ToString().ToLowerInvariant();
            verb = watch.Length > 0 && watch is not ("false" or "0") ? "watch" : "list";
            if (SingleName(request.Query["fieldSelector"].ToString()) is { } selected)
            {
                name = selected;
            }
        }
        if (name.Length == 0 && verb == "delete")
        {
            verb = "deletecollection";
        }
        return new RequestAttributes
        {
            IsResourceRequest = true,
            Path = path,
            Verb = verb,
            ApiGroup = group,
            ApiVersion = version,
            Namespace = ns,
            Resource = resource,
            Subresource = subresource,
            Name = name,
            NamedInPath = named,
        };
    }

    /// <summary>The name a field selector requires exactly (metadata.name=x or ==x, alone), as upstream takes it for authorization.</summary>
    private static string? SingleName(string selector)
    {
        if (selector.Length == 0 || selector.Contains(',', StringComparison.Ordinal))
        {
            return null;
        }
        foreach (var op in new[] { "==", "=" })
        {
            var at = selector.IndexOf(op, StringComparison.Ordinal);
            if (at > 0 && selector[..at].Trim() == "metadata.name" && !selector[..at].EndsWith('!'))
            {
                var value = selector[(at + op.Length)..].Trim();
                return value.Length > 0 && !value.Contains('/', StringComparison.Ordinal) && value is not ("." or "..") && !value.Contains('%', StringComparison.Ordinal) ? value : null;
            }
        }
        return null;
    }
}
