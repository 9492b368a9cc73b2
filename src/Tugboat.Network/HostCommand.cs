using System.Diagnostics;

namespace Tugboat.Network;

/// <summary>Runs the machine's own tools (ip, mount, umount, nft) for the node's network and volumes.</summary>
public static class HostCommand
{
    /// <summary>Runs <paramref name="file"/> to its end.</summary>
    /// <exception cref="InvalidOperationException">It failed; the message is the command line and what it printed on stderr.</exception>
    public static async Task RunAsync(string file, IReadOnlyList<string> args, CancellationToken ct, string? input = null) =>
        await OutputAsync(file, args, ct, input).ConfigureAwait(false);

    /// <summary>Runs <paramref name="file"/> to its end and returns what it printed on stdout.</summary>
    /// <exception cref="InvalidOperationException">It failed; the message is the command line and what it printed on stderr.</exception>
    public static async Task<string> OutputAsync(string file, IReadOnlyList<string> args, CancellationToken ct, string? input = null)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true, RedirectStandardInput = input is not null, UseShellExecute = false };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using var process = Process.Start(psi)!;
        if (input is not null)
        {
            await process.StandardInput.WriteAsync(input.AsMemory(), ct).ConfigureAwait(false);
            process.StandardInput.Close();
        }
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct).ConfigureAwait(false);
        var output = await stdout.ConfigureAwait(false);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)}: {(await stderr.ConfigureAwait(false)).Trim()}");
        }
        return output;
    }
}
