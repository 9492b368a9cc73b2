using Microsoft.Extensions.Logging;

namespace Tugboat.Agent.Runtimes.Cri.Images;

/// <summary>
/// DATA/agent/images, as k3s's agent/images: image archives (docker-archive or oci-archive, .tar, .tar.gz, .tgz) are
/// imported into containerd at start and whenever one appears or changes while the agent runs (looked for every five
/// seconds); an archive that is not an image is said once per version of the file, and the agent goes on.
/// </summary>
internal sealed partial class ImageFolder(string directory, string socket, ILogger logger)
{
    private readonly Dictionary<string, (long Length, DateTime Written)> _seen = new(StringComparer.Ordinal);

    public static bool IsArchive(string file) =>
        file.EndsWith(".tar", StringComparison.Ordinal) || file.EndsWith(".tar.gz", StringComparison.Ordinal) || file.EndsWith(".tgz", StringComparison.Ordinal);

    /// <summary>Imports what is new or changed since the last look (at start everything, however fresh).</summary>
    public async Task ImportNewAsync(CancellationToken ct, bool atStart = false)
    {
        if (!Directory.Exists(directory))
        {
            return;
        }
        foreach (var file in Directory.GetFiles(directory).Where(IsArchive).Order(StringComparer.Ordinal))
        {
            var info = new FileInfo(file);
            var version = (info.Length, info.LastWriteTimeUtc);
            if (_seen.TryGetValue(file, out var known) && known == version)
            {
                continue;
            }
            // A file still being copied in is left for the next look.
            if (!atStart && DateTime.UtcNow - info.LastWriteTimeUtc < TimeSpan.FromSeconds(1))
            {
                continue;
            }
            _seen[file] = version;
            try
            {
                await ImageImporter.ImportAsync(socket, file, ct).ConfigureAwait(false);
                LogImported(Path.GetFileName(file));
            }
            catch (InvalidOperationException e)
            {
                LogImportFailed(e.Message);
            }
        }
    }

    /// <summary>Looks for new archives every five seconds until <paramref name="ct"/> ends.</summary>
    public async Task WatchAsync(CancellationToken ct)
    {
        try
        {
            while (!ct.IsCancellationRequested)
            {
                await Task.Delay(TimeSpan.FromSeconds(5), ct).ConfigureAwait(false);
                await ImportNewAsync(ct).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "imported image archive {File}")]
    private partial void LogImported(string file);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Error}")]
    private partial void LogImportFailed(string error);
}
