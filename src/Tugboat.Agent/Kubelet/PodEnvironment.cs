using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Tugboat.Api.Meta;
using Tugboat.Client;

namespace Tugboat.Agent.Kubelet;

/// <summary>A container's configuration could not be assembled (upstream's CreateContainerConfigError).</summary>
internal sealed class ContainerConfigException(string message) : Exception(message);

/// <summary>
/// Builds a container's environment as the kubelet does: envFrom first (ConfigMaps and Secrets, with prefixes), then env
/// (value with <c>$(VAR)</c> references, configMapKeyRef, secretKeyRef, fieldRef, resourceFieldRef); later names win.
/// </summary>
internal sealed class PodEnvironment(ApiClient client, JsonObject pod, string nodeName, string? hostIp, string? podIp, Func<string, decimal> nodeAllocatable, IReadOnlyList<KeyValuePair<string, string>> serviceEnv)
{
    private readonly Dictionary<string, JsonObject?> _objects = new(StringComparer.Ordinal);

    private string Namespace => pod["metadata"]!["namespace"]!.GetValue<string>();

    /// <summary>A ConfigMap or Secret of the pod's namespace, or null if it does not exist.</summary>
    public async Task<JsonObject?> GetAsync(string kind, string name, CancellationToken ct)
    {
        var key = kind + "/" + name;
        if (_objects.TryGetValue(key, out var cached))
        {
            return cached;
        }
        JsonObject? obj;
        try
        {
            obj = await client.GetAsync($"/api/v1/namespaces/{Namespace}/{kind}/{name}", ct).ConfigureAwait(false);
        }
        catch (ApiError e) when (e.IsNotFound)
        {
            obj = null;
        }
        _objects[key] = obj;
        return obj;
    }

    /// <summary>The value of <paramref name="key"/> in a ConfigMap (data or binaryData) or Secret (base64 data), or null.</summary>
    public static byte[]? Value(JsonObject obj, string kind, string key)
    {
        if (kind == "secrets")
        {
            return obj["data"]?[key]?.GetValue<string>() is { } b64 ? Convert.FromBase64String(b64)
                : obj["stringData"]?[key]?.GetValue<string>() is { } s ? Encoding.UTF8.GetBytes(s) : null;
        }
        return obj["data"]?[key]?.GetValue<string>() is { } text ? Encoding.UTF8.GetBytes(text)
            : obj["binaryData"]?[key]?.GetValue<string>() is { } bin ? Convert.FromBase64String(bin) : null;
    }

    public static IEnumerable<string> Keys(JsonObject obj, string kind) =>
        kind == "secrets"
            ? (obj["data"]?.AsObject().Select(p => p.Key) ?? []).Concat(obj["stringData"]?.AsObject().Select(p => p.Key) ?? []).Distinct(StringComparer.Ordinal)
            : (obj["data"]?.AsObject().Select(p => p.Key) ?? []).Concat(obj["binaryData"]?.AsObject().Select(p => p.Key) ?? []);

    private static string KindName(string kind) => kind == "secrets" ? "secret" : "configmap";

    public async Task<List<KeyValuePair<string, string>>> BuildAsync(JsonObject container, CancellationToken ct)
    {
        var env = new List<KeyValuePair<string, string>>();
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        void Set(string name, string value)
        {
            values[name] = value;
            env.RemoveAll(e => e.Key == name);
            env.Add(KeyValuePair.Create(name, value));
        }
        // Service variables come first, so that the container's own env and envFrom override them; $(VAR) sees them.
        foreach (var (name, value) in serviceEnv)
        {
            Set(name, value);
        }
        Set("HOSTNAME", Hostname(pod));
        foreach (var source in container["envFrom"]?.AsArray() ?? [])
        {
            var prefix = source?["prefix"]?.GetValue<string>() ?? string.Empty;
            var (kind, reference) = source?["configMapRef"] is JsonObject cm ? ("configmaps", cm) : source?["secretRef"] is JsonObject s ? ("secrets", s) : (null, null);
            if (kind is null || reference is null)
            {
                continue;
            }
            var name = reference["name"]?.GetValue<string>() ?? string.Empty;
            var optional = reference["optional"]?.GetValue<bool>() == true;
            if (await GetAsync(kind, name, ct).ConfigureAwait(false) is not { } obj)
            {
                if (optional)
                {
                    continue;
                }
                throw new ContainerConfigException($"{KindName(kind)} \"{name}\" not found");
            }
            foreach (var key in Keys(obj, kind))
            {
                // Upstream skips keys that are not valid environment variable names (and records an event).
                if (IsEnvName(prefix + key))
                {
                    Set(prefix + key, Encoding.UTF8.GetString(Value(obj, kind, key)!));
                }
            }
        }
        foreach (var item in container["env"]?.AsArray() ?? [])
        {
            var name = item?["name"]?.GetValue<string>();
            if (name is null)
            {
                continue;
            }
            if (item!["valueFrom"] is not JsonObject from)
            {
                Set(name, Expand(item["value"]?.GetValue<string>() ?? string.Empty, values));
                continue;
            }
            if (await ValueFromAsync(container, from, ct).ConfigureAwait(false) is { } v)
            {
                Set(name, v);
            }
        }
        return env;
    }

    private async Task<string?> ValueFromAsync(JsonObject container, JsonObject from, CancellationToken ct)
    {
        var (kind, keyRef) = from["configMapKeyRef"] is JsonObject cm ? ("configmaps", cm) : from["secretKeyRef"] is JsonObject s ? ("secrets", s) : (null, null);
        if (kind is not null && keyRef is not null)
        {
            var name = keyRef["name"]?.GetValue<string>() ?? string.Empty;
            var key = keyRef["key"]?.GetValue<string>() ?? string.Empty;
            var optional = keyRef["optional"]?.GetValue<bool>() == true;
            if (await GetAsync(kind, name, ct).ConfigureAwait(false) is not { } obj)
            {
                return optional ? null : throw new ContainerConfigException($"{KindName(kind)} \"{name}\" not found");
            }
            if (Value(obj, kind, key) is not { } bytes)
            {
                return optional ? null : throw new ContainerConfigException($"couldn't find key {key} in {(kind == "secrets" ? "Secret" : "ConfigMap")} {Namespace}/{name}");
            }
            return Encoding.UTF8.GetString(bytes);
        }
        if (from["fieldRef"] is JsonObject field)
        {
            return FieldValue(field["fieldPath"]?.GetValue<string>() ?? string.Empty);
        }
        if (from["resourceFieldRef"] is JsonObject resource)
        {
            return ResourceValue(container, resource);
        }
        return null;
    }

    /// <summary>A downward API field of the pod (fieldRef.fieldPath).</summary>
    public string FieldValue(string path)
    {
        var meta = pod["metadata"]!;
        string Map(string field, string key) => meta[field]?[key]?.GetValue<string>() ?? string.Empty;
        string All(string field) => string.Join('\n', (meta[field]?.AsObject() ?? []).OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}=\"{p.Value?.GetValue<string>()}\""));
        if (path.StartsWith("metadata.labels['", StringComparison.Ordinal) && path.EndsWith("']", StringComparison.Ordinal))
        {
            return Map("labels", path[17..^2]);
        }
        if (path.StartsWith("metadata.annotations['", StringComparison.Ordinal) && path.EndsWith("']", StringComparison.Ordinal))
        {
            return Map("annotations", path[22..^2]);
        }
        return path switch
        {
            "metadata.name" => meta["name"]!.GetValue<string>(),
            "metadata.namespace" => Namespace,
            "metadata.uid" => meta["uid"]?.GetValue<string>() ?? string.Empty,
            "metadata.labels" => All("labels"),
            "metadata.annotations" => All("annotations"),
            "spec.nodeName" => nodeName,
            "spec.serviceAccountName" => pod["spec"]?["serviceAccountName"]?.GetValue<string>() ?? string.Empty,
            "status.hostIP" or "status.hostIPs" => hostIp ?? string.Empty,
            "status.podIP" or "status.podIPs" => podIp ?? string.Empty,
            _ => throw new ContainerConfigException($"unsupported fieldRef fieldPath {path}"),
        };
    }

    /// <summary>A container resource (resourceFieldRef): limits fall back to node allocatable; CPU rounds up to the divisor.</summary>
    public string ResourceValue(JsonObject? container, JsonObject reference)
    {
        if (reference["containerName"]?.GetValue<string>() is { Length: > 0 } named)
        {
            container = (pod["spec"]?["containers"]?.AsArray() ?? []).Concat(pod["spec"]?["initContainers"]?.AsArray() ?? [])
                .OfType<JsonObject>().FirstOrDefault(c => c["name"]?.GetValue<string>() == named)
                ?? throw new ContainerConfigException($"container {named} not found");
        }
        var resource = reference["resource"]?.GetValue<string>() ?? string.Empty;
        var divisorText = reference["divisor"]?.ToString() is { Length: > 0 } d ? d : "1";
        if (!Quantity.TryParse(divisorText, out var divisor) || divisor == 0)
        {
            divisor = 1;
        }
        var parts = resource.Split('.', 2);
        if (parts.Length != 2 || parts[0] is not ("limits" or "requests"))
        {
            throw new ContainerConfigException($"unsupported resource {resource}");
        }
        decimal value;
        if (container?["resources"]?[parts[0]]?[parts[1]]?.ToString() is { } text && Quantity.TryParse(text, out var q))
        {
            value = q;
        }
        else
        {
            value = parts[0] == "limits" ? nodeAllocatable(parts[1]) : 0;
        }
        var result = Math.Ceiling(value / divisor);
        return ((long)result).ToString(CultureInfo.InvariantCulture);
    }

    public static string Hostname(JsonObject pod) =>
        pod["spec"]?["hostname"]?.GetValue<string>() is { Length: > 0 } h ? h : pod["metadata"]!["name"]!.GetValue<string>() is var n && n.Length > 63 ? n[..63].TrimEnd('-', '.') : n;

    private static bool IsEnvName(string name) =>
        name.Length > 0 && !char.IsAsciiDigit(name[0]) && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.');

    /// <summary>Upstream's <c>$(VAR)</c> expansion: defined names are replaced, <c>$$</c> escapes, anything else stays as written.</summary>
    public static string Expand(string input, IReadOnlyDictionary<string, string> values)
    {
        if (!input.Contains('$', StringComparison.Ordinal))
        {
            return input;
        }
        var result = new StringBuilder();
        for (var i = 0; i < input.Length; i++)
        {
            if (input[i] != '$' || i + 1 >= input.Length)
            {
                result.Append(input[i]);
                continue;
            }
            var next = input[i + 1];
            if (next == '$')
            {
                result.Append('$');
                i++;
            }
            else if (next == '(' && input.IndexOf(')', i + 2) is var close && close > 0)
            {
                var name = input[(i + 2)..close];
                result.Append(values.TryGetValue(name, out var v) ? v : $"$({name})");
                i = close;
            }
            else
            {
                result.Append('$');
            }
        }
        return result.ToString();
    }
}
