using System.Runtime.InteropServices;
using Microsoft.Data.Sqlite;

namespace Tugboat.Storage;

/// <summary>
/// The default store: a kine-like append-only log in SQLite (WAL). Each row is one revision of one key; the latest
/// live value of every key is also kept in memory to answer current reads without touching the disk.
/// Writes are committed in groups by the writer thread with synchronous=FULL, so an acknowledged write survives kill -9
/// and power loss, and concurrent writers share one fsync.
/// </summary>
public sealed class SqliteStore : StoreBase
{
    private readonly string _connectionString;
    private readonly SqliteConnection _writeConnection;
    private readonly SqliteCommand _insert;

    private SqliteStore(string path)
        : base(indexKeepsHistory: false)
    {
        SQLitePCL.Batteries_V2.Init();
        _connectionString = new SqliteConnectionStringBuilder { DataSource = path, Cache = SqliteCacheMode.Private, Pooling = true }.ToString();
        _writeConnection = new SqliteConnection(_connectionString);
        _writeConnection.Open();
        Exec(_writeConnection, """
            PRAGMA journal_mode=WAL;
            PRAGMA synchronous=FULL;
            PRAGMA busy_timeout=5000;
            CREATE TABLE IF NOT EXISTS kv (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL,
                deleted INTEGER NOT NULL,
                create_revision INTEGER NOT NULL,
                prev_revision INTEGER NOT NULL,
                value BLOB
            );
            CREATE INDEX IF NOT EXISTS kv_name_id ON kv (name, id);
            CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL);
            """);
        _insert = _writeConnection.CreateCommand();
        _insert.CommandText = "INSERT INTO kv (id, name, deleted, create_revision, prev_revision, value) VALUES ($id, $name, $deleted, $create, $prev, $value)";
        _insert.Parameters.Add("$id", SqliteType.Integer);
        _insert.Parameters.Add("$name", SqliteType.Text);
        _insert.Parameters.Add("$deleted", SqliteType.Integer);
        _insert.Parameters.Add("$create", SqliteType.Integer);
        _insert.Parameters.Add("$prev", SqliteType.Integer);
        _insert.Parameters.Add("$value", SqliteType.Blob);
        _insert.Prepare();

        var compact = Scalar(_writeConnection, "SELECT COALESCE((SELECT v FROM meta WHERE k = 'compact_revision'), 0)");
        var current = Math.Max(compact, Scalar(_writeConnection, "SELECT COALESCE(MAX(id), 0) FROM kv"));
        using (var load = _writeConnection.CreateCommand())
        {
            load.CommandText = """
                SELECT kv.id, kv.name, kv.create_revision, kv.value FROM kv
                JOIN (SELECT MAX(id) AS id FROM kv GROUP BY name) latest ON kv.id = latest.id
                WHERE kv.deleted = 0
                """;
            using var r = load.ExecuteReader();
            while (r.Read())
            {
                Index.Load(new StoreEntry(r.GetString(1), (byte[])r.GetValue(3), r.GetInt64(2), r.GetInt64(0)));
            }
        }
        Start(current, compact);
    }

    /// <summary>Opens (creating when missing) the database at <paramref name="path"/>.</summary>
    public static SqliteStore Open(string path)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null)
        {
            Directory.CreateDirectory(dir);
        }
        return new SqliteStore(path);
    }

    protected override void Persist(IReadOnlyList<StoreEvent> events)
    {
        using var tx = _writeConnection.BeginTransaction();
        _insert.Transaction = tx;
        foreach (var e in events)
        {
            _insert.Parameters[0].Value = e.Revision;
            _insert.Parameters[1].Value = e.Key;
            _insert.Parameters[2].Value = e.Type == StoreEventType.Delete ? 1 : 0;
            _insert.Parameters[3].Value = e.CreateRevision;
            _insert.Parameters[4].Value = e.PrevRevision;
            _insert.Parameters[5].Value = e.Type == StoreEventType.Delete ? DBNull.Value : WholeArray(e.Value);
            _insert.ExecuteNonQuery();
        }
        tx.Commit();
    }

    /// <summary>The value's own array when it spans all of one (values almost always do), else a copy.</summary>
    private static byte[] WholeArray(ReadOnlyMemory<byte> value) =>
        MemoryMarshal.TryGetArray(value, out var segment) && segment.Offset == 0 && segment.Count == segment.Array!.Length ? segment.Array : value.ToArray();

    protected override IEnumerable<StoreEvent> ReadHistory(string prefix, long after, long upTo)
    {
        using var conn = OpenRead();
        using var cmd = conn.CreateCommand();
        cmd.CommandText = """
            SELECT kv.id, kv.name, kv.deleted, kv.create_revision, kv.value, p.value, kv.prev_revision FROM kv
            LEFT JOIN kv p ON p.id = kv.prev_revision AND kv.prev_revision > 0
            WHERE kv.id > $after AND kv.id <= $upTo AND kv.name >= $lo AND kv.name < $hi
            ORDER BY kv.id
            """;
        cmd.Parameters.AddWithValue("$after", after);
        cmd.Parameters.AddWithValue("$upTo", upTo);
        cmd.Parameters.AddWithValue("$lo", prefix);
        cmd.Parameters.AddWithValue("$hi", prefix + '\uffff');
        using var r = cmd.ExecuteReader();
        while (r.Read())
        {
            var deleted = r.GetInt64(2) == 1;
            // Keep "no previous value" as null: a null byte[] would silently become an empty ReadOnlyMemory.
            ReadOnlyMemory<byte>? prev = r.IsDBNull(5) ? (ReadOnlyMemory<byte>?)null : (byte[])r.GetValue(5);
            var value = deleted ? prev ?? ReadOnlyMemory<byte>.Empty : (byte[])r.GetValue(4);
            yield return new StoreEvent(deleted ? StoreEventType.Delete : StoreEventType.Put, r.GetString(1), r.GetInt64(0), r.GetInt64(3), r.GetInt64(6), value, prev);
        }
    }

    protected override StoreEntry? GetHistorical(string key, long revision)
    {
        using var conn = OpenRead();
        using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT id, deleted, create_revision, value FROM kv WHERE name = $name AND id <= $rev ORDER BY id DESC LIMIT 1";
        cmd.Parameters.AddWithValue("$name", key);
        cmd.Parameters.AddWithValue("$rev", revision);
        using var r = cmd.ExecuteReader();
        if (!r.Read() || r.GetInt64(1) == 1)
        {
            return null;
        }
        return new StoreEntry(key, (byte[])r.GetValue(3), r.GetInt64(2), r.GetInt64(0));
    }

    protected override ListResult ListHistorical(string prefix, string? startAfter, int limit, long revision)
    {
        using var conn = OpenRead();
        using var cmd = conn.CreateCommand();
        cmd.CommandText = """
            SELECT kv.id, kv.name, kv.create_revision, kv.value FROM kv
            JOIN (SELECT MAX(id) AS id FROM kv WHERE name > $after AND name >= $lo AND name < $hi AND id <= $rev GROUP BY name) latest
              ON kv.id = latest.id
            WHERE kv.deleted = 0
            ORDER BY kv.name
            LIMIT $limit
            """;
        cmd.Parameters.AddWithValue("$after", startAfter ?? string.Empty);
        cmd.Parameters.AddWithValue("$lo", prefix);
        cmd.Parameters.AddWithValue("$hi", prefix + '\uffff');
        cmd.Parameters.AddWithValue("$rev", revision);
        cmd.Parameters.AddWithValue("$limit", limit > 0 ? limit + 1 : -1);
        var items = new List<StoreEntry>();
        using var r = cmd.ExecuteReader();
        while (r.Read())
        {
            items.Add(new StoreEntry(r.GetString(1), (byte[])r.GetValue(3), r.GetInt64(2), r.GetInt64(0)));
        }
        var more = limit > 0 && items.Count > limit;
        if (more)
        {
            items.RemoveAt(items.Count - 1);
        }
        return new ListResult(items, revision, more);
    }

    protected override void CompactRange(long from, long to, long compactRevision)
    {
        using var tx = _writeConnection.BeginTransaction();
        using (var cmd = _writeConnection.CreateCommand())
        {
            cmd.Transaction = tx;
            // A row is history once a newer row of the same key exists at or below the compaction point;
            // a deletion marker at or below it is history too, since nothing older survives.
            cmd.CommandText = """
                DELETE FROM kv WHERE id > $from AND id <= $to AND (
                    deleted = 1 OR EXISTS (SELECT 1 FROM kv newer WHERE newer.name = kv.name AND newer.id > kv.id AND newer.id <= $compact))
                """;
            cmd.Parameters.AddWithValue("$from", from);
            cmd.Parameters.AddWithValue("$to", to);
            cmd.Parameters.AddWithValue("$compact", compactRevision);
            cmd.ExecuteNonQuery();
        }
        using (var meta = _writeConnection.CreateCommand())
        {
            meta.Transaction = tx;
            meta.CommandText = "INSERT INTO meta (k, v) VALUES ('compact_revision', $v) ON CONFLICT(k) DO UPDATE SET v = excluded.v";
            meta.Parameters.AddWithValue("$v", compactRevision);
            meta.ExecuteNonQuery();
        }
        tx.Commit();
    }

    private SqliteConnection OpenRead()
    {
        var conn = new SqliteConnection(_connectionString);
        conn.Open();
        return conn;
    }

    private static void Exec(SqliteConnection conn, string sql)
    {
        using var cmd = conn.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    private static long Scalar(SqliteConnection conn, string sql)
    {
        using var cmd = conn.CreateCommand();
        cmd.CommandText = sql;
        return Convert.ToInt64(cmd.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync().ConfigureAwait(false);
        _insert.Dispose();
        _writeConnection.Dispose();
    }
}
