using Tugboat.ApiServer.Http;
using Tugboat.ApiServer.Security;

namespace Tugboat.ApiServer.Authorization;

/// <summary>
/// Allows every authenticated request (upstream's AlwaysAllow mode). It is the server's authorizer until role-based
/// access control is enforced; the access reviews say so in their reason.
/// </summary>
internal sealed class AlwaysAllowAuthorizer : IAuthorizer
{
    public ValueTask<(Decision Decision, string Reason)> AuthorizeAsync(UserInfo user, RequestAttributes request, CancellationToken ct) =>
        ValueTask.FromResult((Decision.Allow, string.Empty));
}
