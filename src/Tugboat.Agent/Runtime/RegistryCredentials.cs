using System.Text;
using System.Text.Json.Nodes;

namespace Tugboat.Agent.Runtime;

/// <summary>Registry logins read from an imagePullSecret: kubernetes.io/dockerconfigjson (.dockerconfigjson) or kubernetes.io/dockercfg (.dockercfg).</summary>
public static class RegistryCredentials
{
    public static IEnumerable<RegistryCredential> FromSecret(JsonObject? secret)
    {
        var data = secret?["data"] as JsonObject;
        JsonObject? auths = null;
        if (Decode(data?[".dockerconfigjson"]) is JsonObject config)
        {
            auths = config["auths"] as JsonObject;
        }
        else if (Decode(data?[".dockercfg"]) is JsonObject legacy)
        {
            auths = legacy;
        }
        foreach (var (server, entry) in auths ?? [])
        {
            if (entry is not JsonObject login)
            {
                continue;
            }
            var username = login["username"]?.GetValue<string>();
            var password = login["password"]?.GetValue<string>();
            var auth = login["auth"]?.GetValue<string>();
            if (username is null && auth is not null)
            {
                // auth is base64 of "user:password".
                try
                {
                    var pair = Encoding.UTF8.GetString(Convert.FromBase64String(auth)).Split(':', 2);
                    (username, password) = (pair[0], pair.Length > 1 ? pair[1] : string.Empty);
                }
                catch (FormatException)
                {
                }
            }
            yield return new RegistryCredential(Host(server), username, password, auth, login["identitytoken"]?.GetValue<string>());
        }
    }

    /// <summary>The registry host a config key names (keys may be URLs: https://index.docker.io/v1/).</summary>
    internal static string Host(string key)
    {
        var host = key;
        if (host.Contains("://", StringComparison.Ordinal))
        {
            host = host[(host.IndexOf("://", StringComparison.Ordinal) + 3)..];
        }
        host = host.Split('/')[0];
        return host is "index.docker.io" or "registry-1.docker.io" ? "docker.io" : host;
    }

    private static JsonNode? Decode(JsonNode? value)
    {
        if (value?.GetValue<string>() is not { } base64)
        {
            return null;
        }
        try
        {
            return JsonNode.Parse(Convert.FromBase64String(base64));
        }
        catch (Exception e) when (e is FormatException or System.Text.Json.JsonException)
        {
            return null;
        }
    }
}
