using Tugboat.ApiServer.Http;
using Tugboat.ApiServer.Security;

namespace Tugboat.ApiServer.Authorization;

/// <summary>An authorizer's answer, as upstream's: allow, deny, or no opinion (the next authorizer in a chain decides).</summary>
internal enum Decision
{
    NoOpinion,
    Allow,
    Deny,
}

/// <summary>
/// Decides whether a user may do what a request asks (upstream's authorizer.Authorizer). The reason is shown to the
/// client when the request is refused.
/// </summary>
internal interface IAuthorizer
{
    ValueTask<(Decision Decision, string Reason)> AuthorizeAsync(UserInfo user, RequestAttributes request, CancellationToken ct);
}
