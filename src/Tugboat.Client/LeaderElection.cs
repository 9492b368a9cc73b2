using System.Text.Json.Nodes;
using Tugboat.Api.Meta;

namespace Tugboat.Client;

/// <summary>
/// Leader election on a coordination.k8s.io Lease, as client-go's: a candidate takes the Lease when it is free or
/// expired (renewTime + leaseDurationSeconds in the past), renews it every <see cref="RetryPeriod"/>, and stops leading
/// when it cannot renew within <see cref="RenewDeadline"/>. Writes carry the Lease's resourceVersion, so two
/// candidates can never both believe they hold it.
/// </summary>
public sealed class LeaderElection(ApiClient client, string ns, string name, string identity)
{
    /// <summary>How long a Lease is valid after its last renewal (upstream's default: 15 s).</summary>
    public TimeSpan LeaseDuration { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>How long the leader keeps trying to renew before it gives up leading (10 s).</summary>
    public TimeSpan RenewDeadline { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How often candidates try and the leader renews (2 s).</summary>
    public TimeSpan RetryPeriod { get; init; } = TimeSpan.FromSeconds(2);

    public string Identity => identity;

    private string Path => $"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/{name}";

    /// <summary>
    /// Waits until this candidate leads, runs <paramref name="lead"/> with a token cancelled when leadership is lost,
    /// and competes again afterwards; returns when <paramref name="ct"/> is cancelled.
    /// </summary>
    public async Task RunAsync(Func<CancellationToken, Task> lead, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                while (!await TryAcquireOrRenewAsync(ct).ConfigureAwait(false))
                {
                    await Task.Delay(RetryPeriod, ct).ConfigureAwait(false);
                }
                using var leading = CancellationTokenSource.CreateLinkedTokenSource(ct);
                var work = lead(leading.Token);
                var renewing = RenewAsync(leading, ct);
                await Task.WhenAny(work, renewing).ConfigureAwait(false);
                await leading.CancelAsync().ConfigureAwait(false);
                try
                {
                    await Task.WhenAll(work, renewing).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
        }
    }

    private async Task RenewAsync(CancellationTokenSource leading, CancellationToken ct)
    {
        var lastRenew = DateTimeOffset.UtcNow;
        while (!leading.IsCancellationRequested)
        {
            await Task.Delay(RetryPeriod, leading.Token).ConfigureAwait(false);
            bool renewed;
            try
            {
                renewed = await TryAcquireOrRenewAsync(ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is ApiError or HttpRequestException && !ct.IsCancellationRequested)
            {
                renewed = false;
            }
            if (renewed)
            {
                lastRenew = DateTimeOffset.UtcNow;
            }
            else if (DateTimeOffset.UtcNow - lastRenew > RenewDeadline)
            {
                // Someone else holds it now, or the API was out of reach too long: stop leading.
                return;
            }
        }
    }

    /// <summary>Takes or renews the Lease; false when another candidate holds a valid one or won the race.</summary>
    public async Task<bool> TryAcquireOrRenewAsync(CancellationToken ct)
    {
        var now = DateTimeOffset.UtcNow;
        JsonObject? lease;
        try
        {
            lease = await client.GetAsync(Path, ct).ConfigureAwait(false);
        }
        catch (ApiError e) when (e.IsNotFound)
        {
            lease = null;
        }
        var spec = lease?["spec"] as JsonObject;
        var holder = spec?["holderIdentity"]?.GetValue<string>();
        var renewTime = Times.Parse(spec?["renewTime"]) ?? DateTimeOffset.MinValue;
        var duration = TimeSpan.FromSeconds(spec?["leaseDurationSeconds"]?.GetValue<int>() ?? 0);
        if (lease is not null && !string.IsNullOrEmpty(holder) && holder != identity && renewTime + duration > now)
        {
            return false;
        }
        var transitions = spec?["leaseTransitions"]?.GetValue<int>() ?? 0;
        var next = new JsonObject
        {
            ["holderIdentity"] = identity,
            ["leaseDurationSeconds"] = (int)LeaseDuration.TotalSeconds,
            ["acquireTime"] = holder == identity ? spec?["acquireTime"]?.DeepClone() : Times.FormatMicro(now),
            ["renewTime"] = Times.FormatMicro(now),
            ["leaseTransitions"] = holder == identity || lease is null ? transitions : transitions + 1,
        };
        try
        {
            if (lease is null)
            {
                await client.CreateAsync($"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases", new JsonObject
                {
                    ["apiVersion"] = "coordination.k8s.io/v1",
                    ["kind"] = "Lease",
                    ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = ns },
                    ["spec"] = next,
                }, ct).ConfigureAwait(false);
            }
            else
            {
                var update = (JsonObject)lease.DeepClone();
                update["spec"] = next;
                await client.UpdateAsync(Path, update, ct).ConfigureAwait(false);
            }
            return true;
        }
        catch (ApiError e) when (e.IsConflict || e.IsAlreadyExists)
        {
            return false;
        }
    }
}
