using System.Formats.Tar;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace Tugboat.Agent.Runtimes.Cri.Images;

/// <summary>
/// Writes a single-layer image as a docker-archive tar (manifest.json with fully qualified RepoTags, the image config,
/// one uncompressed layer), the format containerd imports: enough for the sandbox image the agent builds from the
/// node's static catatonit and for images made offline from files on the machine. No registry or external tool needed.
/// </summary>
internal sealed class ImageArchive
{
    private readonly List<(string Path, string? Source, string? LinkTarget, UnixFileMode Mode)> _entries = [];

    /// <summary>The image's name as clients write it in a pod, fully qualified (docker.io/library/busybox:1.35).</summary>
    public required string Name { get; init; }

    public IReadOnlyList<string> Entrypoint { get; init; } = [];

    public IReadOnlyList<string> Cmd { get; init; } = [];

    public IReadOnlyList<string> Env { get; init; } = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"];

    public string WorkingDir { get; init; } = string.Empty;

    public string User { get; init; } = string.Empty;

    /// <summary>Adds a file of the host at <paramref name="path"/> in the image (parents are created).</summary>
    public ImageArchive AddFile(string path, string source, UnixFileMode mode = (UnixFileMode)0b111_101_101)
    {
        _entries.Add((path.TrimStart('/'), source, null, mode));
        return this;
    }

    public ImageArchive AddSymlink(string path, string target)
    {
        _entries.Add((path.TrimStart('/'), null, target, (UnixFileMode)0b111_111_111));
        return this;
    }

    public ImageArchive AddDirectory(string path, UnixFileMode mode = (UnixFileMode)0b111_101_101)
    {
        _entries.Add((path.TrimStart('/').TrimEnd('/') + "/", null, null, mode));
        return this;
    }

    /// <summary>Writes the archive to <paramref name="file"/>.</summary>
    public void Write(string file)
    {
        if (!Name.Contains('/', StringComparison.Ordinal) || !Name[(Name.LastIndexOf('/') + 1)..].Contains(':', StringComparison.Ordinal))
        {
            throw new ArgumentException($"image name {Name} must be fully qualified (registry/repository:tag)");
        }
        var layer = Layer();
        var diffId = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(layer));
        var config = Encoding.UTF8.GetBytes(Config(diffId).ToJsonString());
        var configName = Convert.ToHexStringLower(SHA256.HashData(config)) + ".json";
        var layerName = diffId[7..] + "/layer.tar";
        var manifest = new JsonArray(new JsonObject
        {
            ["Config"] = configName,
            ["RepoTags"] = new JsonArray(Name),
            ["Layers"] = new JsonArray(layerName),
        });
        using var output = File.Create(file);
        using var tar = new TarWriter(output, TarEntryFormat.Pax);
        AddBytes(tar, configName, config);
        tar.WriteEntry(new PaxTarEntry(TarEntryType.Directory, diffId[7..] + "/") { Mode = (UnixFileMode)0b111_101_101 });
        AddBytes(tar, layerName, layer);
        AddBytes(tar, "manifest.json", Encoding.UTF8.GetBytes(manifest.ToJsonString()));
    }

    private JsonObject Config(string diffId)
    {
        static JsonArray Strings(IEnumerable<string> values) => new(values.Select(v => (JsonNode)JsonValue.Create(v)!).ToArray());
        var config = new JsonObject { ["Env"] = Strings(Env) };
        if (Entrypoint.Count > 0)
        {
            config["Entrypoint"] = Strings(Entrypoint);
        }
        if (Cmd.Count > 0)
        {
            config["Cmd"] = Strings(Cmd);
        }
        if (WorkingDir.Length > 0)
        {
            config["WorkingDir"] = WorkingDir;
        }
        if (User.Length > 0)
        {
            config["User"] = User;
        }
        return new JsonObject
        {
            ["architecture"] = System.Runtime.InteropServices.RuntimeInformation.OSArchitecture switch
            {
                System.Runtime.InteropServices.Architecture.Arm64 => "arm64",
                _ => "amd64",
            },
            ["os"] = "linux",
            // A fixed time keeps the archive the same for the same content (and so the image's ID).
            ["created"] = "1970-01-01T00:00:00Z",
            ["config"] = config,
            ["rootfs"] = new JsonObject { ["type"] = "layers", ["diff_ids"] = new JsonArray(diffId) },
        };
    }

    private byte[] Layer()
    {
        using var buffer = new MemoryStream();
        using (var tar = new TarWriter(buffer, TarEntryFormat.Pax, leaveOpen: true))
        {
            var directories = new HashSet<string>(StringComparer.Ordinal);
            foreach (var (path, source, link, mode) in _entries)
            {
                // Parents first, each once, as image layers list them.
                var parts = path.TrimEnd('/').Split('/');
                for (var i = 1; i < parts.Length; i++)
                {
                    var dir = string.Join('/', parts[..i]) + "/";
                    if (directories.Add(dir))
                    {
                        tar.WriteEntry(new PaxTarEntry(TarEntryType.Directory, dir) { Mode = (UnixFileMode)0b111_101_101, ModificationTime = DateTimeOffset.UnixEpoch });
                    }
                }
                if (path.EndsWith('/'))
                {
                    if (directories.Add(path))
                    {
                        tar.WriteEntry(new PaxTarEntry(TarEntryType.Directory, path) { Mode = mode, ModificationTime = DateTimeOffset.UnixEpoch });
                    }
                }
                else if (link is not null)
                {
                    tar.WriteEntry(new PaxTarEntry(TarEntryType.SymbolicLink, path) { LinkName = link, Mode = mode, ModificationTime = DateTimeOffset.UnixEpoch });
                }
                else
                {
                    using var content = File.OpenRead(source!);
                    tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, path) { DataStream = content, Mode = mode, ModificationTime = DateTimeOffset.UnixEpoch });
                }
            }
        }
        return buffer.ToArray();
    }

    private static void AddBytes(TarWriter tar, string name, byte[] bytes)
    {
        using var data = new MemoryStream(bytes);
        tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = data, Mode = (UnixFileMode)0b110_100_100, ModificationTime = DateTimeOffset.UnixEpoch });
    }
}
