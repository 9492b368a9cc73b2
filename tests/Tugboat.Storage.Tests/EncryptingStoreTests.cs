using System.Security.Cryptography;
using System.Text;
using Tugboat.Storage;
using Tugboat.Storage.Encryption;

namespace Tugboat.Storage.Tests;

public sealed class EncryptingStoreTests
{
    private static readonly byte[] Key1 = RandomNumberGenerator.GetBytes(32);
    private static readonly byte[] Key2 = RandomNumberGenerator.GetBytes(32);

    private static byte[] V(string s) => Encoding.UTF8.GetBytes(s);

    private static string S(ReadOnlyMemory<byte> b) => Encoding.UTF8.GetString(b.Span);

    [Fact]
    public void KeyRingRoundTripsWithUpstreamsEnvelopeAndDetectsTampering()
    {
        var ring = new AesGcmKeyRing([("k1", Key1)], writePlaintext: false, readPlaintext: false);
        var sealed1 = ring.Encrypt(V("{\"data\":\"x\"}"));
        Assert.StartsWith("k8s:enc:aesgcm:v1:k1:", Encoding.ASCII.GetString(sealed1, 0, 21));
        Assert.Equal("{\"data\":\"x\"}", S(ring.Decrypt(sealed1)));
        Assert.NotEqual(sealed1, ring.Encrypt(V("{\"data\":\"x\"}")));
        sealed1[^1] ^= 1;
        Assert.ThrowsAny<CryptographicException>(() => ring.Decrypt(sealed1));
        Assert.ThrowsAny<CryptographicException>(() => ring.Decrypt(V("{\"plain\":true}")));
    }

    [Fact]
    public void RotationReadsOldKeysAndWritesWithTheFirst()
    {
        var old = new AesGcmKeyRing([("k1", Key1)], false, false).Encrypt(V("old"));
        var rotated = new AesGcmKeyRing([("k2", Key2), ("k1", Key1)], false, false);
        Assert.Equal("old", S(rotated.Decrypt(old)));
        Assert.StartsWith("k8s:enc:aesgcm:v1:k2:", Encoding.ASCII.GetString(rotated.Encrypt(V("new"))));
        var withoutOld = new AesGcmKeyRing([("k2", Key2)], false, false);
        Assert.ThrowsAny<CryptographicException>(() => withoutOld.Decrypt(old));
        var identityFirst = new AesGcmKeyRing([("k1", Key1)], writePlaintext: true, readPlaintext: true);
        Assert.Equal("plain", S(identityFirst.Encrypt(V("plain"))));
        Assert.Equal("old", S(identityFirst.Decrypt(old)));
    }

    [Fact]
    public void RejectsBadKeys()
    {
        Assert.Throws<ArgumentException>(() => new AesGcmKeyRing([("k", new byte[10])], false, false));
        Assert.Throws<ArgumentException>(() => new AesGcmKeyRing([("a:b", Key1)], false, false));
        Assert.Throws<ArgumentException>(() => new AesGcmKeyRing([], false, false));
    }

    [Fact]
    public async Task EncryptsOnlyCoveredKeysAndDecryptsReadsListsAndWatches()
    {
        await using var inner = new MemoryStore();
        var store = new EncryptingStore(inner, new AesGcmKeyRing([("k1", Key1)], false, false), ["/registry/secrets/"]);
        using var watch = store.Watch("/registry/", 0);
        var created = await store.CreateAsync("/registry/secrets/ns/s", V("secret-value"));
        Assert.Equal("secret-value", S(created.Entry!.Value));
        await store.CreateAsync("/registry/configmaps/ns/c", V("plain-value"));
        await store.UpdateAsync("/registry/secrets/ns/s", V("secret-2"), 0);
        Assert.StartsWith("k8s:enc:aesgcm:v1:k1:", S((await inner.GetAsync("/registry/secrets/ns/s"))!.Value));
        Assert.Equal("plain-value", S((await inner.GetAsync("/registry/configmaps/ns/c"))!.Value));
        Assert.Equal("secret-2", S((await store.GetAsync("/registry/secrets/ns/s"))!.Value));
        Assert.Equal("secret-value", S((await store.GetAsync("/registry/secrets/ns/s", created.Revision))!.Value));
        Assert.Equal(["plain-value", "secret-2"], (await store.ListAsync("/registry/")).Items.Select(i => S(i.Value)));
        var deleted = await store.DeleteAsync("/registry/secrets/ns/s", 0);
        Assert.Equal("secret-2", S(deleted.Entry!.Value));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var events = new List<StoreEvent>();
        while (events.Count < 4)
        {
            events.Add(await watch.Events.ReadAsync(cts.Token));
        }
        Assert.Equal(["secret-value", "plain-value", "secret-2", "secret-2"], events.Select(e => S(e.Value)));
        Assert.Equal("secret-value", S(events[2].PrevValue!.Value));
        Assert.Null(events[0].PrevValue);
    }
}
