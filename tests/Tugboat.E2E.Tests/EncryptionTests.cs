using System.Security.Cryptography;
using System.Text;

namespace Tugboat.E2E.Tests;

/// <summary>Secrets are encrypted at rest, and keys rotate the upstream way.</summary>
public sealed class EncryptionTests
{
    [Fact]
    public async Task SecretsNeverReachTheDatabaseInPlainTextAndKeysRotate()
    {
        await using var server = new TugServer();
        await server.StartAsync();
        var k = new Kubectl(Kubectl.V132, server.Kubeconfig);
        const string value = "Sup3r-S3cret-Tugboat-Value";
        (await k.RunAsync("create", "secret", "generic", "s1", "--from-literal=password=" + value)).Ok();
        await server.StopAsync();
        AssertNotInDatabase(server.DataDir, value);
        Assert.True(DatabaseContains(server.DataDir, "k8s:enc:aesgcm:v1:aesgcmkey:"));

        // Rotation: a new key first, restart, rewrite every Secret, drop the old key, restart.
        var config = Path.Combine(server.DataDir, "cred", "encryption-config.yaml");
        var original = File.ReadAllText(config);
        var newKey = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        File.WriteAllText(config, original.Replace("      keys:\n", $"      keys:\n      - name: rotated\n        secret: {newKey}\n", StringComparison.Ordinal));
        await server.StartAsync();
        var all = (await k.RunAsync("get", "secrets", "-A", "-o", "json")).Ok().Out;
        (await k.RunWithInputAsync(all, "replace", "-f", "-")).Ok();
        await server.StopAsync();
        var lines = File.ReadAllLines(config).ToList();
        var oldKey = lines.FindIndex(l => l.Contains("name: aesgcmkey", StringComparison.Ordinal));
        lines.RemoveRange(oldKey, 2);
        File.WriteAllText(config, string.Join('\n', lines) + "\n");
        await server.StartAsync();
        var decoded = Encoding.UTF8.GetString(Convert.FromBase64String((await k.RunAsync("get", "secret", "s1", "-o", "jsonpath={.data.password}")).Ok().Out));
        Assert.Equal(value, decoded);
        (await k.RunAsync("create", "secret", "generic", "s2", "--from-literal=k=" + value)).Ok();
        await server.StopAsync();
        AssertNotInDatabase(server.DataDir, value);
        Assert.True(DatabaseContains(server.DataDir, "k8s:enc:aesgcm:v1:rotated:"));
    }

    [Fact]
    public async Task AnUnsupportedConfigurationStopsTheServerWithAClearError()
    {
        await using var server = new TugServer();
        Directory.CreateDirectory(Path.Combine(server.DataDir, "cred"));
        File.WriteAllText(Path.Combine(server.DataDir, "cred", "encryption-config.yaml"),
            "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers: [{kms: {name: vault}}]\n");
        var error = await Assert.ThrowsAsync<InvalidOperationException>(server.StartAsync);
        Assert.Contains("provider kms is not supported; use aesgcm or identity", error.Message);
    }

    private static void AssertNotInDatabase(string dataDir, string value)
    {
        Assert.False(DatabaseContains(dataDir, value), "the secret value is in the database in plain text");
        Assert.False(DatabaseContains(dataDir, Convert.ToBase64String(Encoding.UTF8.GetBytes(value))), "the secret value is in the database as base64");
    }

    private static bool DatabaseContains(string dataDir, string text)
    {
        var needle = Encoding.UTF8.GetBytes(text);
        return Directory.GetFiles(Path.Combine(dataDir, "db")).Any(f => File.ReadAllBytes(f).AsSpan().IndexOf(needle) >= 0);
    }
}
