using System.Threading.Channels;

namespace Tugboat.Storage.Encryption;

/// <summary>
/// An <see cref="IStore"/> decorator that encrypts the values of keys under the given prefixes (Secrets) before they
/// reach the inner store and decrypts them on every read, list and watch event; other keys pass through.
/// </summary>
public sealed class EncryptingStore(IStore inner, AesGcmKeyRing keys, IReadOnlyCollection<string> prefixes) : IStore
{
    public long CurrentRevision => inner.CurrentRevision;

    public long CompactRevision => inner.CompactRevision;

    private bool Covers(string key)
    {
        foreach (var prefix in prefixes)
        {
            if (key.StartsWith(prefix, StringComparison.Ordinal))
            {
                return true;
            }
        }
        return false;
    }

    private ReadOnlyMemory<byte> In(string key, ReadOnlyMemory<byte> value) => Covers(key) ? keys.Encrypt(value.Span) : value;

    private ReadOnlyMemory<byte> Out(string key, ReadOnlyMemory<byte> value) => Covers(key) && value.Length > 0 ? keys.Decrypt(value.Span) : value;

    // Entries of keys that are not encrypted pass through as they are (every read of every other object comes here).
    private StoreEntry? Out(StoreEntry? e) => e is null || !Covers(e.Key) ? e : e with { Value = Out(e.Key, e.Value) };

    private WriteResult Out(WriteResult r) => r with { Entry = Out(r.Entry) };

    public async ValueTask<StoreEntry?> GetAsync(string key, long revision = 0, CancellationToken cancellationToken = default) =>
        Out(await inner.GetAsync(key, revision, cancellationToken).ConfigureAwait(false));

    public async ValueTask<ListResult> ListAsync(string prefix, string? startAfter = null, int limit = 0, long revision = 0, CancellationToken cancellationToken = default)
    {
        var page = await inner.ListAsync(prefix, startAfter, limit, revision, cancellationToken).ConfigureAwait(false);
        return page with { Items = page.Items.Select(e => Out(e)!).ToList() };
    }

    public ValueTask<long> CountAsync(string prefix, CancellationToken cancellationToken = default) => inner.CountAsync(prefix, cancellationToken);

    public async ValueTask<WriteResult> CreateAsync(string key, ReadOnlyMemory<byte> value, CancellationToken cancellationToken = default) =>
        Out(await inner.CreateAsync(key, In(key, value), cancellationToken).ConfigureAwait(false));

    public async ValueTask<WriteResult> UpdateAsync(string key, ReadOnlyMemory<byte> value, long expectedRevision, CancellationToken cancellationToken = default) =>
        Out(await inner.UpdateAsync(key, In(key, value), expectedRevision, cancellationToken).ConfigureAwait(false));

    public async ValueTask<WriteResult> DeleteAsync(string key, long expectedRevision, CancellationToken cancellationToken = default) =>
        Out(await inner.DeleteAsync(key, expectedRevision, cancellationToken).ConfigureAwait(false));

    public IStoreWatch Watch(string prefix, long afterRevision) => new DecryptingWatch(inner.Watch(prefix, afterRevision), this);

    public ValueTask CompactAsync(long revision, CancellationToken cancellationToken = default) => inner.CompactAsync(revision, cancellationToken);

    public ValueTask DisposeAsync() => inner.DisposeAsync();

    private StoreEvent Out(StoreEvent e) => !Covers(e.Key) ? e : e with
    {
        Value = Out(e.Key, e.Value),
        PrevValue = e.PrevValue is { } prev ? Out(e.Key, prev) : (ReadOnlyMemory<byte>?)null,
    };

    private sealed class DecryptingWatch(IStoreWatch inner, EncryptingStore store) : IStoreWatch
    {
        public ChannelReader<StoreEvent> Events { get; } = new Reader(inner.Events, store);

        public void Dispose() => inner.Dispose();

        private sealed class Reader(ChannelReader<StoreEvent> inner, EncryptingStore store) : ChannelReader<StoreEvent>
        {
            public override Task Completion => inner.Completion;

            public override bool TryRead(out StoreEvent item)
            {
                if (inner.TryRead(out var e))
                {
                    item = store.Out(e);
                    return true;
                }
                item = null!;
                return false;
            }

            public override ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken = default) => inner.WaitToReadAsync(cancellationToken);
        }
    }
}
