using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Tugboat.Agent.Kubelet;

namespace Tugboat.Agent.Volumes;

/// <summary>A volume could not be set up (upstream's FailedMount); the pod waits and the agent retries.</summary>
internal sealed class VolumeException(string message) : Exception(message);

/// <summary>
/// Prepares a pod's volumes under <c>PODDIR/volumes/NAME</c>: emptyDir (a tmpfs for medium Memory), configMap, secret,
/// downwardAPI and projected (written atomically, refreshed by <see cref="RefreshAsync"/>), hostPath (the host path
/// itself, checked against its type). Other kinds are refused with a clear message.
/// </summary>
internal sealed class VolumeManager(string podDir, bool root)
{
    private readonly Dictionary<string, string> _paths = new(StringComparer.Ordinal);

    /// <summary>Host paths of the prepared volumes by name.</summary>
    public IReadOnlyDictionary<string, string> Paths => _paths;

    public async Task SetUpAsync(JsonObject pod, PodEnvironment env, CancellationToken ct)
    {
        foreach (var volume in pod["spec"]?["volumes"]?.AsArray().OfType<JsonObject>() ?? [])
        {
            var name = volume["name"]!.GetValue<string>();
            var dir = Path.Combine(podDir, "volumes", name);
            if (volume["emptyDir"] is JsonObject emptyDir)
            {
                await EmptyDirAsync(dir, emptyDir, ct).ConfigureAwait(false);
                _paths[name] = dir;
            }
            else if (volume["hostPath"] is JsonObject hostPath)
            {
                _paths[name] = HostPath(hostPath);
            }
            else if (Payload(volume) is not null)
            {
                await WriteAsync(volume, dir, env, ct).ConfigureAwait(false);
                _paths[name] = dir;
            }
            else
            {
                var kind = volume.Select(p => p.Key).FirstOrDefault(k => k != "name") ?? "unknown";
                throw new VolumeException($"volume \"{name}\": {kind} volumes are not supported by this node yet");
            }
        }
    }

    /// <summary>Rewrites configMap, secret, downwardAPI and projected volumes whose content changed; returns true if any did.</summary>
    public async Task<bool> RefreshAsync(JsonObject pod, PodEnvironment env, CancellationToken ct)
    {
        var changed = false;
        foreach (var volume in pod["spec"]?["volumes"]?.AsArray().OfType<JsonObject>() ?? [])
        {
            if (Payload(volume) is not null && _paths.TryGetValue(volume["name"]!.GetValue<string>(), out var dir))
            {
                changed |= await WriteAsync(volume, dir, env, ct).ConfigureAwait(false);
            }
        }
        return changed;
    }

    private static string? Payload(JsonObject volume) =>
        volume.ContainsKey("configMap") ? "configMap" : volume.ContainsKey("secret") ? "secret" : volume.ContainsKey("downwardAPI") ? "downwardAPI" : volume.ContainsKey("projected") ? "projected" : null;

    private static async Task<bool> WriteAsync(JsonObject volume, string dir, PodEnvironment env, CancellationToken ct)
    {
        var files = new List<AtomicWriter.File>();
        var defaultMode = 420;
        JsonArray sources;
        if (volume["projected"] is JsonObject projected)
        {
            defaultMode = projected["defaultMode"]?.GetValue<int>() ?? 420;
            sources = projected["sources"]?.AsArray() ?? [];
        }
        else
        {
            var kind = Payload(volume)!;
            defaultMode = volume[kind]?["defaultMode"]?.GetValue<int>() ?? 420;
            sources = [new JsonObject { [kind] = volume[kind]!.DeepClone() }];
        }
        foreach (var source in sources.OfType<JsonObject>())
        {
            if (source["configMap"] is JsonObject cm)
            {
                files.AddRange(await KeysAsync("configmaps", cm, cm["name"]?.GetValue<string>() ?? string.Empty, defaultMode, env, ct).ConfigureAwait(false));
            }
            else if (source["secret"] is JsonObject secret)
            {
                files.AddRange(await KeysAsync("secrets", secret, secret["secretName"]?.GetValue<string>() ?? secret["name"]?.GetValue<string>() ?? string.Empty, defaultMode, env, ct).ConfigureAwait(false));
            }
            else if (source["downwardAPI"] is JsonObject downward)
            {
                foreach (var item in downward["items"]?.AsArray().OfType<JsonObject>() ?? [])
                {
                    var value = item["fieldRef"] is JsonObject field ? env.FieldValue(field["fieldPath"]?.GetValue<string>() ?? string.Empty)
                        : item["resourceFieldRef"] is JsonObject resource ? env.ResourceValue(null, resource)
                        : string.Empty;
                    files.Add(new AtomicWriter.File(item["path"]!.GetValue<string>(), Encoding.UTF8.GetBytes(value), item["mode"]?.GetValue<int>() ?? defaultMode));
                }
            }
            else if (source["serviceAccountToken"] is not null)
            {
                throw new VolumeException("serviceAccountToken projections are not supported yet (the token request API is not built)");
            }
        }
        return AtomicWriter.Write(dir, files);
    }

    private static async Task<List<AtomicWriter.File>> KeysAsync(string kind, JsonObject source, string name, int defaultMode, PodEnvironment env, CancellationToken ct)
    {
        var optional = source["optional"]?.GetValue<bool>() == true;
        var obj = await env.GetAsync(kind, name, ct).ConfigureAwait(false);
        var kindName = kind == "secrets" ? "secret" : "configmap";
        if (obj is null)
        {
            return optional ? [] : throw new VolumeException($"{kindName} \"{name}\" not found");
        }
        var result = new List<AtomicWriter.File>();
        if (source["items"] is JsonArray items && items.Count > 0)
        {
            foreach (var item in items.OfType<JsonObject>())
            {
                var key = item["key"]!.GetValue<string>();
                if (PodEnvironment.Value(obj, kind, key) is not { } value)
                {
                    if (optional)
                    {
                        continue;
                    }
                    throw new VolumeException($"configmap references non-existent config key: {key}".Replace("configmap", kindName, StringComparison.Ordinal));
                }
                result.Add(new AtomicWriter.File(item["path"]!.GetValue<string>(), value, item["mode"]?.GetValue<int>() ?? defaultMode));
            }
            return result;
        }
        foreach (var key in PodEnvironment.Keys(obj, kind))
        {
            result.Add(new AtomicWriter.File(key, PodEnvironment.Value(obj, kind, key)!, defaultMode));
        }
        return result;
    }

    private async Task EmptyDirAsync(string dir, JsonObject emptyDir, CancellationToken ct)
    {
        Directory.CreateDirectory(dir);
        // As upstream's: writable by whatever user the containers run as.
        File.SetUnixFileMode(dir, (UnixFileMode)0x1FF);
        if (emptyDir["medium"]?.GetValue<string>() != "Memory" || !root || IsMountPoint(dir))
        {
            return;
        }
        var options = "mode=0777";
        if (emptyDir["sizeLimit"]?.ToString() is { } limit && Api.Meta.Quantity.TryParse(limit, out var bytes) && bytes > 0)
        {
            options += ",size=" + ((long)bytes).ToString(CultureInfo.InvariantCulture);
        }
        await RunAsync("mount", ["-t", "tmpfs", "-o", options, "tmpfs", dir], ct).ConfigureAwait(false);
    }

    private static string HostPath(JsonObject hostPath)
    {
        var path = hostPath["path"]?.GetValue<string>() ?? string.Empty;
        var type = hostPath["type"]?.GetValue<string>() ?? string.Empty;
        switch (type)
        {
            case "DirectoryOrCreate":
                Directory.CreateDirectory(path);
                File.SetUnixFileMode(path, (UnixFileMode)0x1ED);
                break;
            case "FileOrCreate":
                if (!File.Exists(path))
                {
                    Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                    File.WriteAllBytes(path, []);
                }
                break;
            case "Directory" when !Directory.Exists(path):
                throw new VolumeException($"hostPath type check failed: {path} is not a directory");
            case "File" when !File.Exists(path):
                throw new VolumeException($"hostPath type check failed: {path} is not a file");
            case "Socket" or "CharDevice" or "BlockDevice" when !File.Exists(path):
                throw new VolumeException($"hostPath type check failed: {path} is not a {type}");
        }
        return path;
    }

    /// <summary>Unmounts memory-backed emptyDirs and removes the pod's volume directories.</summary>
    public async Task TearDownAsync(CancellationToken ct)
    {
        var volumes = Path.Combine(podDir, "volumes");
        if (!Directory.Exists(volumes))
        {
            return;
        }
        foreach (var dir in Directory.GetDirectories(volumes))
        {
            if (root && IsMountPoint(dir))
            {
                await RunAsync("umount", [dir], ct).ConfigureAwait(false);
            }
        }
        Directory.Delete(volumes, recursive: true);
    }

    private static bool IsMountPoint(string dir) =>
        File.ReadAllLines("/proc/self/mountinfo").Any(l => l.Split(' ') is { Length: > 4 } f && f[4] == dir);

    private static async Task RunAsync(string file, string[] args, CancellationToken ct)
    {
        try
        {
            await Tugboat.Network.HostCommand.RunAsync(file, args, ct).ConfigureAwait(false);
        }
        catch (InvalidOperationException e)
        {
            throw new VolumeException(e.Message);
        }
    }
}
