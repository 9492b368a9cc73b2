using System.Text;
using Tugboat.Storage;

namespace Tugboat.Storage.Tests;

/// <summary>The contract every <see cref="IStore"/> keeps; one small subclass per backend.</summary>
public abstract class StoreConformanceTests : IAsyncLifetime
{
    protected IStore Store { get; private set; } = null!;

    protected abstract Task<IStore> CreateStoreAsync();

    public async Task InitializeAsync() => Store = await CreateStoreAsync();

    public async Task DisposeAsync() => await Store.DisposeAsync();

    protected static byte[] V(string s) => Encoding.UTF8.GetBytes(s);

    protected static string S(ReadOnlyMemory<byte> b) => Encoding.UTF8.GetString(b.Span);

    [Fact]
    public async Task EveryWriteAdvancesTheGlobalRevisionByOne()
    {
        var start = Store.CurrentRevision;
        var a = await Store.CreateAsync("/a", V("1"));
        var b = await Store.CreateAsync("/b", V("2"));
        var c = await Store.UpdateAsync("/a", V("3"), a.Revision);
        var d = await Store.DeleteAsync("/b", 0);
        Assert.Equal([start + 1, start + 2, start + 3, start + 4], new[] { a.Revision, b.Revision, c.Revision, d.Revision });
        Assert.Equal(start + 4, Store.CurrentRevision);
    }

    [Fact]
    public async Task CreateFailsWhenTheKeyExistsAndChangesNothing()
    {
        var a = await Store.CreateAsync("/x", V("1"));
        var again = await Store.CreateAsync("/x", V("2"));
        Assert.Equal(WriteStatus.AlreadyExists, again.Status);
        Assert.Equal(a.Revision, Store.CurrentRevision);
        Assert.Equal("1", S((await Store.GetAsync("/x"))!.Value));
    }

    [Fact]
    public async Task UpdateAndDeleteHonourTheExpectedRevision()
    {
        var a = await Store.CreateAsync("/k", V("1"));
        var u = await Store.UpdateAsync("/k", V("2"), a.Revision);
        Assert.Equal(WriteStatus.Ok, u.Status);
        var stale = await Store.UpdateAsync("/k", V("3"), a.Revision);
        Assert.Equal(WriteStatus.Conflict, stale.Status);
        Assert.Equal(u.Revision, stale.Entry!.ModRevision);
        var staleDelete = await Store.DeleteAsync("/k", a.Revision);
        Assert.Equal(WriteStatus.Conflict, staleDelete.Status);
        var del = await Store.DeleteAsync("/k", u.Revision);
        Assert.Equal(WriteStatus.Ok, del.Status);
        Assert.Equal("2", S(del.Entry!.Value));
        Assert.Null(await Store.GetAsync("/k"));
        Assert.Equal(WriteStatus.NotFound, (await Store.UpdateAsync("/k", V("4"), 0)).Status);
        Assert.Equal(WriteStatus.NotFound, (await Store.DeleteAsync("/k", 0)).Status);
    }

    [Fact]
    public async Task EntriesCarryCreateAndModRevisions()
    {
        var a = await Store.CreateAsync("/r", V("1"));
        var u = await Store.UpdateAsync("/r", V("2"), 0);
        var e = await Store.GetAsync("/r");
        Assert.Equal(a.Revision, e!.CreateRevision);
        Assert.Equal(u.Revision, e.ModRevision);
    }

    [Fact]
    public async Task GetAtAPastRevisionSeesTheValueThen()
    {
        var a = await Store.CreateAsync("/h", V("1"));
        await Store.UpdateAsync("/h", V("2"), 0);
        var d = await Store.DeleteAsync("/h", 0);
        Assert.Equal("1", S((await Store.GetAsync("/h", a.Revision))!.Value));
        Assert.Null(await Store.GetAsync("/h", d.Revision));
        Assert.Null(await Store.GetAsync("/h", a.Revision - 1 == 0 ? a.Revision : a.Revision - 1) is { } x && S(x.Value) != "1" ? x : null);
    }

    [Fact]
    public async Task ListPagesByPrefixInKeyOrder()
    {
        foreach (var name in new[] { "c", "a", "e", "b", "d" })
        {
            await Store.CreateAsync("/list/ns/" + name, V(name));
        }
        await Store.CreateAsync("/listx/other", V("no"));
        await Store.CreateAsync("/lis", V("no"));
        var page1 = await Store.ListAsync("/list/", limit: 2);
        Assert.Equal(["/list/ns/a", "/list/ns/b"], page1.Items.Select(i => i.Key));
        Assert.True(page1.More);
        var page2 = await Store.ListAsync("/list/", page1.Items[^1].Key, 2, page1.Revision);
        Assert.Equal(["/list/ns/c", "/list/ns/d"], page2.Items.Select(i => i.Key));
        var page3 = await Store.ListAsync("/list/", page2.Items[^1].Key, 2, page1.Revision);
        Assert.Equal(["/list/ns/e"], page3.Items.Select(i => i.Key));
        Assert.False(page3.More);
        Assert.Equal(5, await Store.CountAsync("/list/"));
    }

    [Fact]
    public async Task ListAtARevisionIgnoresLaterWrites()
    {
        await Store.CreateAsync("/p/a", V("a1"));
        var b = await Store.CreateAsync("/p/b", V("b1"));
        await Store.UpdateAsync("/p/a", V("a2"), 0);
        await Store.DeleteAsync("/p/b", 0);
        await Store.CreateAsync("/p/c", V("c1"));
        var then = await Store.ListAsync("/p/", revision: b.Revision);
        Assert.Equal(["a1", "b1"], then.Items.Select(i => S(i.Value)));
        var now = await Store.ListAsync("/p/");
        Assert.Equal(["a2", "c1"], now.Items.Select(i => S(i.Value)));
        Assert.Equal(Store.CurrentRevision, now.Revision);
    }

    [Fact]
    public async Task WatchReplaysHistoryThenStreamsLiveChangesInOrder()
    {
        var a = await Store.CreateAsync("/w/a", V("1"));
        await Store.UpdateAsync("/w/a", V("2"), 0);
        await Store.CreateAsync("/other", V("x"));
        using var watch = Store.Watch("/w/", a.Revision - 1);
        await Store.DeleteAsync("/w/a", 0);
        await Store.CreateAsync("/w/b", V("3"));
        var events = await Take(watch, 4);
        Assert.Equal([StoreEventType.Put, StoreEventType.Put, StoreEventType.Delete, StoreEventType.Put], events.Select(e => e.Type));
        Assert.True(events[0].IsCreate);
        Assert.Null(events[0].PrevValue);
        Assert.False(events[1].IsCreate);
        Assert.Equal("1", S(events[1].PrevValue!.Value));
        Assert.Equal("2", S(events[2].Value));
        Assert.Equal("/w/b", events[3].Key);
        Assert.True(events.Zip(events.Skip(1)).All(p => p.First.Revision < p.Second.Revision));
    }

    [Fact]
    public async Task WatchFromNowSeesOnlyLaterChanges()
    {
        await Store.CreateAsync("/n/a", V("1"));
        using var watch = Store.Watch("/n/", Store.CurrentRevision);
        var b = await Store.CreateAsync("/n/b", V("2"));
        var e = Assert.Single(await Take(watch, 1));
        Assert.Equal(b.Revision, e.Revision);
    }

    [Fact]
    public async Task ConcurrentWritersAllLandWithDistinctRevisions()
    {
        var tasks = Enumerable.Range(0, 500).Select(i => Store.CreateAsync($"/c/{i:D4}", V(i.ToString())).AsTask()).ToArray();
        var results = await Task.WhenAll(tasks);
        Assert.All(results, r => Assert.Equal(WriteStatus.Ok, r.Status));
        Assert.Equal(500, results.Select(r => r.Revision).Distinct().Count());
        Assert.Equal(500, await Store.CountAsync("/c/"));
    }

    [Fact]
    public async Task ConcurrentConditionalUpdatesLetExactlyOneWin()
    {
        var a = await Store.CreateAsync("/race", V("0"));
        var results = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => Store.UpdateAsync("/race", V(i.ToString()), a.Revision).AsTask()));
        Assert.Equal(1, results.Count(r => r.Status == WriteStatus.Ok));
        Assert.Equal(19, results.Count(r => r.Status == WriteStatus.Conflict));
    }

    [Fact]
    public async Task CompactionKeepsLatestValuesAndExpiresOldRevisions()
    {
        var a = await Store.CreateAsync("/k/a", V("1"));
        await Store.UpdateAsync("/k/a", V("2"), 0);
        await Store.CreateAsync("/k/b", V("b"));
        await Store.DeleteAsync("/k/b", 0);
        var last = await Store.CreateAsync("/k/c", V("c"));
        await Store.CompactAsync(last.Revision - 1);
        Assert.Equal(last.Revision - 1, Store.CompactRevision);
        Assert.Equal("2", S((await Store.GetAsync("/k/a"))!.Value));
        Assert.Null(await Store.GetAsync("/k/b"));
        Assert.Equal(2, (await Store.ListAsync("/k/")).Items.Count);
        await Assert.ThrowsAsync<CompactedException>(async () => await Store.GetAsync("/k/a", a.Revision));
        Assert.Throws<CompactedException>(() => Store.Watch("/k/", a.Revision));
        // Watching from the compaction point still works: everything after it is history.
        using var watch = Store.Watch("/k/", Store.CompactRevision);
        var e = Assert.Single(await Take(watch, 1));
        Assert.Equal(last.Revision, e.Revision);
        var after = await Store.UpdateAsync("/k/a", V("3"), 0);
        Assert.Equal(last.Revision + 1, after.Revision);
    }

    [Fact]
    public async Task FutureRevisionsAreRejected()
    {
        await Store.CreateAsync("/f", V("1"));
        await Assert.ThrowsAsync<FutureRevisionException>(async () => await Store.GetAsync("/f", Store.CurrentRevision + 10));
    }

    protected static async Task<List<StoreEvent>> Take(IStoreWatch watch, int count)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var list = new List<StoreEvent>();
        while (list.Count < count)
        {
            list.Add(await watch.Events.ReadAsync(cts.Token));
        }
        return list;
    }
}

public sealed class MemoryStoreConformanceTests : StoreConformanceTests
{
    protected override Task<IStore> CreateStoreAsync() => Task.FromResult<IStore>(new MemoryStore());
}

public sealed class SqliteStoreConformanceTests : StoreConformanceTests, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tugboat-store-").FullName;

    private string DbPath => Path.Combine(_dir, "state.db");

    protected override Task<IStore> CreateStoreAsync() => Task.FromResult<IStore>(SqliteStore.Open(DbPath));

    [Fact]
    public async Task ReopeningKeepsEveryObjectRevisionAndHistory()
    {
        var a = await Store.CreateAsync("/s/a", V("1"));
        await Store.UpdateAsync("/s/a", V("2"), 0);
        await Store.CreateAsync("/s/b", V("b"));
        var d = await Store.DeleteAsync("/s/b", 0);
        await Store.DisposeAsync();
        await using var reopened = SqliteStore.Open(DbPath);
        Assert.Equal(d.Revision, reopened.CurrentRevision);
        var e = await reopened.GetAsync("/s/a");
        Assert.Equal("2", S(e!.Value));
        Assert.Equal(a.Revision, e.CreateRevision);
        Assert.Null(await reopened.GetAsync("/s/b"));
        Assert.Equal("1", S((await reopened.GetAsync("/s/a", a.Revision))!.Value));
        var next = await reopened.CreateAsync("/s/c", V("c"));
        Assert.Equal(d.Revision + 1, next.Revision);
        using var watch = reopened.Watch("/s/", 0 + a.Revision - 1);
        Assert.Equal(5, (await Take(watch, 5)).Count);
    }

    [Fact]
    public async Task CompactionPointSurvivesReopenEvenWhenTheNewestRowWasCompacted()
    {
        await Store.CreateAsync("/t/a", V("1"));
        var d = await Store.DeleteAsync("/t/a", 0);
        await Store.CompactAsync(d.Revision);
        await Store.DisposeAsync();
        await using var reopened = SqliteStore.Open(DbPath);
        Assert.Equal(d.Revision, reopened.CurrentRevision);
        Assert.Equal(d.Revision, reopened.CompactRevision);
        Assert.Equal(d.Revision + 1, (await reopened.CreateAsync("/t/b", V("b"))).Revision);
    }

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
