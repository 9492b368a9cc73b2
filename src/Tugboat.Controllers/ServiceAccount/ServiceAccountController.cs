using System.Text.Json.Nodes;
using Tugboat.Client;
using Tugboat.Controllers.Runtime;

namespace Tugboat.Controllers.ServiceAccount;

/// <summary>
/// Upstream's service account controller: every active namespace has a ServiceAccount named <c>default</c>; it is
/// created when the namespace appears and again whenever it is deleted. Terminating namespaces are left alone.
/// </summary>
public sealed class ServiceAccountController : IReconciler
{
    /// <summary>The accounts every namespace gets (upstream's ServiceAccountsToEnsure).</summary>
    public static readonly IReadOnlyList<string> Ensured = ["default"];

    private readonly ApiClient _client;
    private readonly Informer _namespaces;
    private readonly Informer _accounts;

    public ServiceAccountController(ApiClient client, InformerFactory informers, WorkQueue<string> queue)
    {
        _client = client;
        Queue = queue;
        _namespaces = informers.For("/api/v1/namespaces");
        _accounts = informers.For("/api/v1/serviceaccounts");
        _namespaces.Added += ns => Queue.Add(Informer.KeyOf(ns));
        _namespaces.Updated += (_, ns) => Queue.Add(Informer.KeyOf(ns));
        _accounts.Deleted += sa =>
        {
            if (sa["metadata"]?["namespace"]?.GetValue<string>() is { } ns && Ensured.Contains(sa["metadata"]?["name"]?.GetValue<string>()))
            {
                Queue.Add(ns);
            }
        };
    }

    public WorkQueue<string> Queue { get; }

    public IReadOnlyList<Informer> Informers => [_namespaces, _accounts];

    public async Task ReconcileAsync(string key, CancellationToken cancellationToken)
    {
        if (_namespaces.Get(key) is not { } ns || ns["status"]?["phase"]?.GetValue<string>() != "Active" || ns["metadata"]?["deletionTimestamp"] is not null)
        {
            return;
        }
        foreach (var name in Ensured)
        {
            if (_accounts.Get($"{key}/{name}") is not null)
            {
                continue;
            }
            try
            {
                await _client.CreateAsync($"/api/v1/namespaces/{key}/serviceaccounts", new JsonObject
                {
                    ["apiVersion"] = "v1",
                    ["kind"] = "ServiceAccount",
                    ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = key },
                }, cancellationToken).ConfigureAwait(false);
            }
            // Already there (the cache lagged), or the namespace began terminating or went meanwhile.
            catch (ApiError e) when (e.IsAlreadyExists || e.Code is 403 or 404)
            {
            }
        }
    }
}
