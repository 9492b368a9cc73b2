using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Tugboat.Api.Serialization;
using Tugboat.Api.Streaming;
using Tugboat.ApiServer.Registry;
using Tugboat.ApiServer.Security;
using static Tugboat.ApiServer.Handlers.Responses;

namespace Tugboat.ApiServer.NodeProxy;

/// <summary>SPDY/3.1 upgrades of a request's connection, as kubectl asks for them for exec and port-forward.</summary>
internal static class SpdyUpgrade
{
    internal static bool IsSpdyUpgrade(HttpContext http) =>
        http.Request.Headers.Upgrade.ToString().StartsWith("SPDY/3.1", StringComparison.OrdinalIgnoreCase)
        && http.Features.Get<IHttpUpgradeFeature>() is { IsUpgradableRequest: true };

    /// <summary>Switches the connection to SPDY with the first offered protocol version we speak; null when none fits.</summary>
    internal static async Task<(SpdyConnection Connection, Stream Raw)?> UpgradeSpdyAsync(HttpContext http, params string[] protocols)
    {
        var offered = http.Request.Headers["X-Stream-Protocol-Version"].SelectMany(v => (v ?? string.Empty).Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)).ToList();
        var chosen = protocols.FirstOrDefault(p => offered.Count == 0 || offered.Contains(p));
        if (chosen is null)
        {
            return null;
        }
        http.Response.Headers.Connection = "Upgrade";
        http.Response.Headers.Upgrade = "SPDY/3.1";
        if (offered.Count > 0)
        {
            http.Response.Headers["X-Stream-Protocol-Version"] = chosen;
        }
        var raw = await http.Features.Get<IHttpUpgradeFeature>()!.UpgradeAsync().ConfigureAwait(false);
        return (new SpdyConnection(raw), raw);
    }
}
