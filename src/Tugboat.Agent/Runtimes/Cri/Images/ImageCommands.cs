using System.Globalization;

namespace Tugboat.Agent.Runtimes.Cri.Images;

/// <summary><c>tug images import FILE…</c> and <c>tug images ls</c> against a node agent's containerd, for machines without crictl.</summary>
public static class ImageCommands
{
    private static string Socket(string agentDir)
    {
        var socket = Path.Combine(agentDir, "containerd", "containerd.sock");
        return File.Exists(socket)
            ? socket
            : throw new InvalidOperationException($"no containerd of a node agent answers at {socket} (is tug running with the containerd runtime?)");
    }

    /// <summary>Imports image archives; returns one line per archive.</summary>
    public static async Task<IReadOnlyList<string>> ImportAsync(string agentDir, IEnumerable<string> files, CancellationToken ct)
    {
        var socket = Socket(agentDir);
        var lines = new List<string>();
        foreach (var file in files)
        {
            if (!File.Exists(file))
            {
                throw new InvalidOperationException($"{file}: no such file");
            }
            await ImageImporter.ImportAsync(socket, Path.GetFullPath(file), ct).ConfigureAwait(false);
            lines.Add($"imported {file}");
        }
        return lines;
    }

    /// <summary>The images containerd holds, as crictl images prints them: IMAGE, TAG, IMAGE ID (12 digits), SIZE.</summary>
    public static async Task<string> ListAsync(string agentDir, CancellationToken ct)
    {
        using var client = new CriClient("unix://" + Socket(agentDir));
        var images = await client.Images.ListImagesAsync(new Api.ListImagesRequest(), CriClient.Options(ct)).ConfigureAwait(false);
        var rows = new List<string[]> { new[] { "IMAGE", "TAG", "IMAGE ID", "SIZE" } };
        foreach (var image in images.Images.OrderBy(i => i.RepoTags.FirstOrDefault() ?? i.Id, StringComparer.Ordinal))
        {
            var id = image.Id.StartsWith("sha256:", StringComparison.Ordinal) ? image.Id[7..] : image.Id;
            id = id.Length > 12 ? id[..12] : id;
            var tags = image.RepoTags.Count > 0 ? image.RepoTags.ToList() : ["<none>:<none>"];
            foreach (var tag in tags)
            {
                var colon = tag.LastIndexOf(':');
                rows.Add([colon > 0 ? tag[..colon] : tag, colon > 0 ? tag[(colon + 1)..] : "<none>", id, Size((long)image.Size)]);
            }
        }
        var widths = Enumerable.Range(0, 4).Select(c => rows.Max(r => r[c].Length)).ToArray();
        return string.Join('\n', rows.Select(r => string.Join("   ", r.Select((cell, c) => c == 3 ? cell : cell.PadRight(widths[c]))).TrimEnd())) + "\n";
    }

    /// <summary>Sizes as crictl prints them (decimal units: 2.1MB).</summary>
    private static string Size(long bytes) => bytes switch
    {
        >= 1_000_000_000 => (bytes / 1e9).ToString("0.#", CultureInfo.InvariantCulture) + "GB",
        >= 1_000_000 => (bytes / 1e6).ToString("0.#", CultureInfo.InvariantCulture) + "MB",
        >= 1_000 => (bytes / 1e3).ToString("0.#", CultureInfo.InvariantCulture) + "kB",
        _ => bytes.ToString(CultureInfo.InvariantCulture) + "B",
    };
}
