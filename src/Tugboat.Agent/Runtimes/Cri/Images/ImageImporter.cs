using System.Diagnostics;

namespace Tugboat.Agent.Runtimes.Cri.Images;

/// <summary>
/// Imports image archives (docker-archive or oci-archive, also gzip-compressed) into containerd's <c>k8s.io</c>
/// namespace, where its CRI finds them, with containerd's own <c>ctr</c> (shipped with it). The CRI has no import call.
/// </summary>
internal static class ImageImporter
{
    public const string Ctr = "/usr/bin/ctr";

    /// <summary>Imports <paramref name="archive"/>; throws with ctr's message when it is not an image archive.</summary>
    public static async Task ImportAsync(string socket, string archive, CancellationToken ct)
    {
        var psi = new ProcessStartInfo(Ctr)
        {
            ArgumentList = { "--address", socket, "--namespace", "k8s.io", "images", "import", "--all-platforms", archive },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var process = System.Diagnostics.Process.Start(psi) ?? throw new InvalidOperationException($"could not start {Ctr}");
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct).ConfigureAwait(false);
        if (process.ExitCode != 0)
        {
            var message = (await stderr.ConfigureAwait(false)).Trim();
            throw new InvalidOperationException($"importing {Path.GetFileName(archive)} failed: {(message.Length > 0 ? message : (await stdout.ConfigureAwait(false)).Trim())}");
        }
    }
}
