using System.Text.Json.Nodes;
using Tugboat.ApiServer.Http;
using Tugboat.ApiServer.Registry;
using Tugboat.ApiServer.Security;

namespace Tugboat.ApiServer.Authorization;

/// <summary>The 403 of a refused request, worded as upstream's (responsewriters.ForbiddenStatusError).</summary>
internal static class Forbidden
{
    public static ApiException For(UserInfo user, RequestAttributes request, string reason)
    {
        var message = Sanitize(Message(user, request));
        if (reason.Length > 0)
        {
            message += ": " + reason;
        }
        var qualified = request.ApiGroup.Length == 0 ? request.Resource : request.Resource + "." + request.ApiGroup;
        var text = !request.IsResourceRequest || request.Resource.Length == 0 ? "forbidden: " + message
            : request.Name.Length == 0 ? $"{qualified} is forbidden: {message}"
            : $"{qualified} \"{request.Name}\" is forbidden: {message}";
        var details = new JsonObject { ["name"] = request.Name };
        if (request.ApiGroup.Length > 0)
        {
            details["group"] = request.ApiGroup;
        }
        details["kind"] = request.Resource;
        return new ApiException(403, "Forbidden", text) { Details = details };
    }

    private static string Message(UserInfo user, RequestAttributes request)
    {
        if (!request.IsResourceRequest)
        {
            return $"User \"{user.Name}\" cannot {request.Verb} path \"{request.Path}\"";
        }
        var resource = request.Subresource.Length > 0 ? request.Resource + "/" + request.Subresource : request.Resource;
        return request.Namespace.Length > 0
            ? $"User \"{user.Name}\" cannot {request.Verb} resource \"{resource}\" in API group \"{request.ApiGroup}\" in the namespace \"{request.Namespace}\""
            : $"User \"{user.Name}\" cannot {request.Verb} resource \"{resource}\" in API group \"{request.ApiGroup}\" at the cluster scope";
    }

    // As upstream: nothing in the message may look like HTML.
    private static string Sanitize(string s) =>
        s.Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal).Replace(">", "&gt;", StringComparison.Ordinal);
}
