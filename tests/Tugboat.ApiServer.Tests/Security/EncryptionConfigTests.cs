using System.Text;
using Tugboat.ApiServer.Hosting;
using Tugboat.ApiServer.Security;

namespace Tugboat.ApiServer.Tests.Security;

public sealed class EncryptionConfigTests
{
    private static readonly string Key = Convert.ToBase64String(new byte[32]);

    [Fact]
    public void ReadsUpstreamsFormat()
    {
        var ring = EncryptionConfig.Parse($$"""
            apiVersion: apiserver.config.k8s.io/v1
            kind: EncryptionConfiguration
            resources:
            - resources: [secrets]
              providers:
              - aesgcm:
                  keys:
                  - {name: new, secret: {{Key}}}
                  - {name: old, secret: {{Key}}}
              - identity: {}
            """, "test");
        Assert.False(ring.WritePlaintext);
        Assert.True(ring.ReadPlaintext);
        Assert.StartsWith("k8s:enc:aesgcm:v1:new:", Encoding.ASCII.GetString(ring.Encrypt("{}"u8)));
    }

    [Theory]
    [InlineData("kind: Other")]
    [InlineData("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [configmaps]\n  providers: [{identity: {}}]")]
    [InlineData("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers: [{kms: {name: x}}]")]
    [InlineData("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers: [{aesgcm: {keys: [{name: k, secret: not-base64!}]}}]")]
    [InlineData("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers: [{aesgcm: {keys: [{name: k, secret: c2hvcnQ=}]}}]")]
    [InlineData("{ not yaml")]
    public void RejectsWhatItCannotHonour(string yaml) =>
        Assert.Throws<ConfigurationException>(() => EncryptionConfig.Parse(yaml, "test"));
}
