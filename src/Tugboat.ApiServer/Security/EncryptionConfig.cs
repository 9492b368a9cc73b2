using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Tugboat.Api.Serialization;
using Tugboat.ApiServer.Hosting;
using Tugboat.ApiServer.Registry;
using Tugboat.Storage.Encryption;

namespace Tugboat.ApiServer.Security;

/// <summary>
/// Encryption at rest, configured like upstream's API server: an <c>EncryptionConfiguration</c>
/// (apiserver.config.k8s.io/v1) at <c>DATA/cred/encryption-config.yaml</c>, created on first start with one random
/// AES-GCM key. Supported: the <c>secrets</c> resource with the <c>aesgcm</c> and <c>identity</c> providers. The first
/// provider writes, all of them read — so keys rotate the upstream way (add the new key first, restart, rewrite every
/// Secret, remove the old key, restart).
/// </summary>
internal static class EncryptionConfig
{
    public const string SecretsPrefix = "/registry/secrets/";

    public static string PathIn(string dataDir) => Path.Combine(dataDir, "cred", "encryption-config.yaml");

    public static AesGcmKeyRing LoadOrCreate(string dataDir)
    {
        var path = PathIn(dataDir);
        if (!File.Exists(path))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
            var yaml = $"""
                apiVersion: apiserver.config.k8s.io/v1
                kind: EncryptionConfiguration
                resources:
                - resources:
                  - secrets
                  providers:
                  - aesgcm:
                      keys:
                      - name: aesgcmkey
                        secret: {key}
                  - identity: {"{}"}

                """;
            PrivateFile.Write(path, yaml);
        }
        return Parse(File.ReadAllText(path), path);
    }

    /// <summary>Parses a configuration; throws <see cref="ConfigurationException"/> with a clear message for anything unsupported.</summary>
    public static AesGcmKeyRing Parse(string text, string source)
    {
        JsonNode? config;
        try
        {
            config = Yaml.ToJson(text);
        }
        catch (FormatException e)
        {
            throw new ConfigurationException($"{source}: {e.Message}", e);
        }
        if (config.Str("kind") != "EncryptionConfiguration" || config.Str("apiVersion") is not ("apiserver.config.k8s.io/v1" or "apiserver.config.k8s.io/v1beta1"))
        {
            throw new ConfigurationException($"{source}: expected kind EncryptionConfiguration of apiserver.config.k8s.io/v1");
        }
        var keys = new List<(string, byte[])>();
        bool? writePlaintext = null;
        var readPlaintext = false;
        foreach (var rule in config.Arr("resources").Objects())
        {
            var resources = rule.Arr("resources")?.Select(r => r?.GetValue<string>()).ToList() ?? [];
            if (resources.Any(r => r is not ("secrets" or "secrets.")))
            {
                throw new ConfigurationException($"{source}: encryption at rest is supported for secrets only, not {string.Join(", ", resources.Where(r => r != "secrets"))}");
            }
            foreach (var provider in rule.Arr("providers").Objects())
            {
                if (provider["aesgcm"] is JsonObject aesgcm)
                {
                    writePlaintext ??= false;
                    foreach (var k in aesgcm.Arr("keys").Objects())
                    {
                        var name = k.Str("name") ?? throw new ConfigurationException($"{source}: an aesgcm key has no name");
                        byte[] secret;
                        try
                        {
                            secret = Convert.FromBase64String(k.Str("secret") ?? string.Empty);
                        }
                        catch (FormatException)
                        {
                            throw new ConfigurationException($"{source}: aesgcm key \"{name}\" is not valid base64");
                        }
                        keys.Add((name, secret));
                    }
                }
                else if (provider.ContainsKey("identity"))
                {
                    writePlaintext ??= true;
                    readPlaintext = true;
                }
                else
                {
                    throw new ConfigurationException($"{source}: provider {string.Join(",", provider.Select(p => p.Key))} is not supported; use aesgcm or identity");
                }
            }
        }
        try
        {
            return new AesGcmKeyRing(keys, writePlaintext ?? true, readPlaintext || writePlaintext is null);
        }
        catch (ArgumentException e)
        {
            throw new ConfigurationException($"{source}: {e.Message}", e);
        }
    }
}
