using System.Globalization;
using System.Text.Json.Nodes;
using Tugboat.Agent.Runtime;
using Tugboat.Client;

namespace Tugboat.Agent.Kubelet;

/// <summary>
/// A pod's image pulls, as the kubelet's image manager does them: the pull policy, the pod's imagePullSecrets, upstream's
/// events, and the back-off between failed pulls. One per pod worker.
/// </summary>
/// <param name="pod">The pod as the worker knows it now.</param>
/// <param name="record">Records an event on the pod (type, reason, message).</param>
/// <param name="signalStatus">Asks the worker to write the pod's status.</param>
/// <param name="terminated">Completes when the pod is being terminated.</param>
internal sealed class ImagePuller(ApiClient client, Func<JsonObject> pod, Action<string, string, string> record, Action signalStatus, Task terminated)
{
    /// <summary>
    /// Makes the container's image present as its imagePullPolicy asks, with upstream's events; while a pull fails the
    /// container waits in ErrImagePull, then ImagePullBackOff (10 s doubling to 5 minutes). False when the pod ended first.
    /// </summary>
    public async Task<bool> PullAsync(IImageRuntime images, ContainerRecord r, CancellationToken ct)
    {
        var delay = TimeSpan.FromSeconds(10);
        var policy = r.Spec["imagePullPolicy"]?.GetValue<string>() ?? "IfNotPresent";
        while (true)
        {
            if (terminated.IsCompleted)
            {
                return false;
            }
            try
            {
                if (policy != "Never")
                {
                    // Only a pull is announced; an image found present is said so after the check.
                    var present = policy != "Always" && await images.EnsureImageAsync(r.Image, "Never", [], ct).ConfigureAwait(false) is not null;
                    if (present)
                    {
                        record("Normal", "Pulled", $"Container image \"{r.Image}\" already present on machine");
                        return true;
                    }
                }
            }
            catch (ImagePullException e) when (e.Reason == "ErrImageNeverPull")
            {
            }
            catch (ImagePullException e) when (e.Reason == "InvalidImageName")
            {
                r.State = ContainerRecord.Waiting("InvalidImageName", e.Message);
                record("Warning", "InspectFailed", e.Message);
                signalStatus();
                return await WaitOrEndAsync(TimeSpan.FromMinutes(5), ct).ConfigureAwait(false) && await PullAsync(images, r, ct).ConfigureAwait(false);
            }
            try
            {
                if (policy != "Never")
                {
                    record("Normal", "Pulling", $"Pulling image \"{r.Image}\"");
                }
                var result = await images.EnsureImageAsync(r.Image, policy, await PullCredentialsAsync(ct).ConfigureAwait(false), ct).ConfigureAwait(false);
                if (result.Pulled)
                {
                    record("Normal", "Pulled", string.Create(CultureInfo.InvariantCulture,
                        $"Successfully pulled image \"{r.Image}\" in {result.Took.TotalMilliseconds:0}ms. Image size: {result.SizeBytes} bytes."));
                }
                else
                {
                    record("Normal", "Pulled", $"Container image \"{r.Image}\" already present on machine");
                }
                return true;
            }
            catch (ImagePullException e) when (!ct.IsCancellationRequested)
            {
                if (e.Reason == "ErrImageNeverPull")
                {
                    r.State = ContainerRecord.Waiting("ErrImageNeverPull", e.Message);
                    record("Warning", "ErrImageNeverPull", e.Message);
                }
                else
                {
                    r.State = ContainerRecord.Waiting(e.Reason, e.Message);
                    record("Warning", "Failed", $"Failed to pull image \"{r.Image}\": {e.Message}");
                    record("Warning", "Failed", "Error: " + e.Reason);
                }
                signalStatus();
            }
            // A short while in ErrImagePull, then back-off until the next attempt.
            if (!await WaitOrEndAsync(TimeSpan.FromSeconds(2), ct).ConfigureAwait(false))
            {
                return false;
            }
            if (r.State["waiting"]?["reason"]?.GetValue<string>() == "ErrImagePull")
            {
                r.State = ContainerRecord.Waiting("ImagePullBackOff", $"Back-off pulling image \"{r.Image}\"");
                record("Normal", "BackOff", $"Back-off pulling image \"{r.Image}\"");
                record("Warning", "Failed", "Error: ImagePullBackOff");
                signalStatus();
            }
            if (!await WaitOrEndAsync(delay, ct).ConfigureAwait(false))
            {
                return false;
            }
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromMinutes(5).Ticks));
        }
    }

    /// <summary>Waits <paramref name="delay"/>; false when the pod is being terminated first.</summary>
    private async Task<bool> WaitOrEndAsync(TimeSpan delay, CancellationToken ct) =>
        await Task.WhenAny(terminated, Task.Delay(delay, ct)).ConfigureAwait(false) != terminated;

    /// <summary>The registry logins of the pod's imagePullSecrets (kubernetes.io/dockerconfigjson and dockercfg); missing secrets are skipped, as upstream does.</summary>
    private async Task<IReadOnlyList<RegistryCredential>> PullCredentialsAsync(CancellationToken ct)
    {
        var credentials = new List<RegistryCredential>();
        foreach (var reference in pod()["spec"]?["imagePullSecrets"]?.AsArray().OfType<JsonObject>() ?? [])
        {
            if (reference["name"]?.GetValue<string>() is not { Length: > 0 } name)
            {
                continue;
            }
            JsonObject? secret;
            try
            {
                secret = await client.GetAsync($"/api/v1/namespaces/{pod()["metadata"]!["namespace"]!.GetValue<string>()}/secrets/{name}", ct).ConfigureAwait(false);
            }
            catch (ApiError)
            {
                continue;
            }
            credentials.AddRange(RegistryCredentials.FromSecret(secret));
        }
        return credentials;
    }
}
