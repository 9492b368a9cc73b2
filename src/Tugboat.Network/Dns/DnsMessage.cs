using System.Buffers.Binary;
using System.Net;
using System.Text;

namespace Tugboat.Network.Dns;

/// <summary>DNS record types the cluster DNS answers (RFC 1035, 2782, 3596).</summary>
public enum DnsType : ushort
{
    A = 1,
    Ns = 2,
    Cname = 5,
    Soa = 6,
    Ptr = 12,
    Txt = 16,
    Aaaa = 28,
    Srv = 33,
    Opt = 41,
    Any = 255,
}

/// <summary>Response codes (RFC 1035 4.1.1).</summary>
public enum DnsCode : byte
{
    NoError = 0,
    FormErr = 1,
    ServFail = 2,
    NxDomain = 3,
    NotImp = 4,
    Refused = 5,
}

/// <summary>A question: name (lower-case, without the trailing dot), type, class.</summary>
public sealed record DnsQuestion(string Name, DnsType Type, ushort Class = 1);

/// <summary>
/// One answer record. <see cref="Data"/> is the address for A/AAAA, the target name for CNAME/PTR/NS, and for SRV
/// "priority weight port target".
/// </summary>
public sealed record DnsRecord(string Name, DnsType Type, uint Ttl, string Data);

/// <summary>A query could not be parsed; the server answers FORMERR when it can read the ID, and nothing otherwise.</summary>
public sealed class DnsFormatException(string message) : Exception(message);

/// <summary>
/// A DNS message as the cluster DNS reads and writes it: header, questions, answers (and additional records), EDNS(0)
/// payload size from an OPT record, name compression on output, and truncation to what the transport allows.
/// </summary>
public sealed class DnsMessage
{
    public ushort Id { get; init; }

    public bool IsResponse { get; init; }

    public byte Opcode { get; init; }

    public bool Authoritative { get; init; }

    public bool Truncated { get; private set; }

    public bool RecursionDesired { get; init; }

    public bool RecursionAvailable { get; init; }

    public DnsCode Code { get; init; }

    public IReadOnlyList<DnsQuestion> Questions { get; init; } = [];

    public IReadOnlyList<DnsRecord> Answers { get; init; } = [];

    /// <summary>The authority section (the zone's SOA in negative answers).</summary>
    public IReadOnlyList<DnsRecord> Authority { get; init; } = [];

    public IReadOnlyList<DnsRecord> Additional { get; init; } = [];

    /// <summary>The UDP payload size the client advertised with EDNS(0), or null without an OPT record.</summary>
    public ushort? EdnsPayload { get; init; }

    /// <summary>Parses a query or response. Throws <see cref="DnsFormatException"/> for anything malformed.</summary>
    public static DnsMessage Parse(ReadOnlySpan<byte> data)
    {
        if (data.Length < 12)
        {
            throw new DnsFormatException("message shorter than its 12-byte header");
        }
        var flags = BinaryPrimitives.ReadUInt16BigEndian(data[2..]);
        int qd = BinaryPrimitives.ReadUInt16BigEndian(data[4..]), an = BinaryPrimitives.ReadUInt16BigEndian(data[6..]);
        int ns = BinaryPrimitives.ReadUInt16BigEndian(data[8..]), ar = BinaryPrimitives.ReadUInt16BigEndian(data[10..]);
        var at = 12;
        var questions = new List<DnsQuestion>();
        for (var i = 0; i < qd; i++)
        {
            var name = ReadName(data, ref at);
            Need(data, at, 4);
            questions.Add(new DnsQuestion(name, (DnsType)BinaryPrimitives.ReadUInt16BigEndian(data[at..]), BinaryPrimitives.ReadUInt16BigEndian(data[(at + 2)..])));
            at += 4;
        }
        var answers = new List<DnsRecord>();
        var authority = new List<DnsRecord>();
        var additional = new List<DnsRecord>();
        ushort? edns = null;
        for (var i = 0; i < an + ns + ar; i++)
        {
            var name = ReadName(data, ref at);
            Need(data, at, 10);
            var type = (DnsType)BinaryPrimitives.ReadUInt16BigEndian(data[at..]);
            var cls = BinaryPrimitives.ReadUInt16BigEndian(data[(at + 2)..]);
            var ttl = BinaryPrimitives.ReadUInt32BigEndian(data[(at + 4)..]);
            int length = BinaryPrimitives.ReadUInt16BigEndian(data[(at + 8)..]);
            at += 10;
            Need(data, at, length);
            if (type == DnsType.Opt)
            {
                edns = cls;
                at += length;
                continue;
            }
            var rdataAt = at;
            string text;
            switch (type)
            {
                case DnsType.A when length == 4:
                case DnsType.Aaaa when length == 16:
                    text = new IPAddress(data.Slice(at, length)).ToString();
                    break;
                case DnsType.Cname or DnsType.Ptr or DnsType.Ns:
                    text = ReadName(data, ref rdataAt);
                    break;
                case DnsType.Soa when length >= 22:
                    var mname = ReadName(data, ref rdataAt);
                    var rname = ReadName(data, ref rdataAt);
                    Need(data, rdataAt, 20);
                    var numbers = new uint[5];
                    for (var k = 0; k < 5; k++)
                    {
                        numbers[k] = BinaryPrimitives.ReadUInt32BigEndian(data[(rdataAt + (4 * k))..]);
                    }
                    text = $"{mname} {rname} {string.Join(' ', numbers)}";
                    break;
                case DnsType.Srv when length >= 7:
                    rdataAt += 6;
                    var target = ReadName(data, ref rdataAt);
                    text = $"{BinaryPrimitives.ReadUInt16BigEndian(data[at..])} {BinaryPrimitives.ReadUInt16BigEndian(data[(at + 2)..])} {BinaryPrimitives.ReadUInt16BigEndian(data[(at + 4)..])} {target}";
                    break;
                default:
                    text = Convert.ToHexString(data.Slice(at, length));
                    break;
            }
            at += length;
            var record = new DnsRecord(name, type, ttl, text);
            (i < an ? answers : i < an + ns ? authority : additional).Add(record);
        }
        return new DnsMessage
        {
            Id = BinaryPrimitives.ReadUInt16BigEndian(data),
            IsResponse = (flags & 0x8000) != 0,
            Opcode = (byte)((flags >> 11) & 0xf),
            Authoritative = (flags & 0x0400) != 0,
            Truncated = (flags & 0x0200) != 0,
            RecursionDesired = (flags & 0x0100) != 0,
            RecursionAvailable = (flags & 0x0080) != 0,
            Code = (DnsCode)(flags & 0xf),
            Questions = questions,
            Answers = answers,
            Authority = authority,
            Additional = additional,
            EdnsPayload = edns,
        };
    }

    private static void Need(ReadOnlySpan<byte> data, int at, int count)
    {
        if (at + count > data.Length)
        {
            throw new DnsFormatException("message ends inside a field");
        }
    }

    /// <summary>Reads a (possibly compressed) name; rejects loops, over-long labels and names (RFC 1035 limits).</summary>
    private static string ReadName(ReadOnlySpan<byte> data, ref int at)
    {
        var name = new StringBuilder();
        var position = at;
        var jumped = false;
        var jumps = 0;
        while (true)
        {
            Need(data, position, 1);
            var length = data[position];
            if ((length & 0xc0) == 0xc0)
            {
                Need(data, position, 2);
                if (++jumps > 16)
                {
                    throw new DnsFormatException("name compression loop");
                }
                var target = BinaryPrimitives.ReadUInt16BigEndian(data[position..]) & 0x3fff;
                if (!jumped)
                {
                    at = position + 2;
                }
                jumped = true;
                if (target >= position)
                {
                    throw new DnsFormatException("name compression points forward");
                }
                position = target;
                continue;
            }
            if ((length & 0xc0) != 0)
            {
                throw new DnsFormatException("unknown label type");
            }
            position++;
            if (length == 0)
            {
                break;
            }
            Need(data, position, length);
            if (name.Length > 0)
            {
                name.Append('.');
            }
            name.Append(Encoding.ASCII.GetString(data.Slice(position, length)).ToLowerInvariant());
            if (name.Length > 253)
            {
                throw new DnsFormatException("name longer than 253 characters");
            }
            position += length;
        }
        if (!jumped)
        {
            at = position;
        }
        return name.ToString();
    }

    /// <summary>
    /// Encodes the message. Records that would take it past <paramref name="maxSize"/> are left out and the TC bit is
    /// set (answers first, so a client retrying over TCP gets them all), as RFC 1035 4.2.1 asks of UDP servers.
    /// </summary>
    public byte[] Encode(int maxSize = 65535)
    {
        var writer = new Writer();
        writer.U16(Id);
        writer.U16(0); // flags, written at the end
        writer.U16((ushort)Questions.Count);
        writer.U16(0);
        writer.U16(0);
        writer.U16(0);
        foreach (var q in Questions)
        {
            writer.Name(q.Name);
            writer.U16((ushort)q.Type);
            writer.U16(q.Class);
        }
        var truncated = false;
        int answers = 0, authority = 0, additional = 0;
        foreach (var (list, section) in new[] { (Answers, 0), (Authority, 1), (Additional, 2) })
        {
            var isAnswer = section < 2;
            foreach (var r in list)
            {
                var mark = writer.Mark();
                writer.Record(r);
                if (writer.Length > maxSize - (EdnsPayload is null ? 0 : 11))
                {
                    writer.Reset(mark);
                    truncated = isAnswer;
                    break;
                }
                _ = section switch
                {
                    0 => answers++,
                    1 => authority++,
                    _ => additional++,
                };
            }
            if (truncated)
            {
                break;
            }
        }
        if (EdnsPayload is { } payload)
        {
            writer.Name(string.Empty);
            writer.U16((ushort)DnsType.Opt);
            writer.U16(payload);
            writer.U32(0);
            writer.U16(0);
            additional++;
        }
        Truncated = truncated;
        var flags = (ushort)((IsResponse ? 0x8000 : 0) | (Opcode << 11) | (Authoritative ? 0x0400 : 0) | (truncated ? 0x0200 : 0)
            | (RecursionDesired ? 0x0100 : 0) | (RecursionAvailable ? 0x0080 : 0) | (byte)Code);
        var bytes = writer.ToArray();
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(2), flags);
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(6), (ushort)answers);
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(8), (ushort)authority);
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(10), (ushort)additional);
        return bytes;
    }

    /// <summary>A response to <paramref name="query"/> with its ID, question and flags, carrying these records.</summary>
    public static DnsMessage Reply(DnsMessage query, DnsCode code, IReadOnlyList<DnsRecord> answers, IReadOnlyList<DnsRecord>? additional = null, bool authoritative = true, IReadOnlyList<DnsRecord>? authority = null) => new()
    {
        Id = query.Id,
        IsResponse = true,
        Opcode = query.Opcode,
        Authoritative = authoritative,
        RecursionDesired = query.RecursionDesired,
        RecursionAvailable = true,
        Code = code,
        Questions = query.Questions,
        Answers = answers,
        Additional = additional ?? [],
        Authority = authority ?? [],
        EdnsPayload = query.EdnsPayload is null ? null : (ushort)4096,
    };

    /// <summary>FORMERR for a query whose ID could be read but nothing else (null when not even that).</summary>
    public static byte[]? FormatError(ReadOnlySpan<byte> query)
    {
        if (query.Length < 2)
        {
            return null;
        }
        var response = new byte[12];
        query[..2].CopyTo(response);
        BinaryPrimitives.WriteUInt16BigEndian(response.AsSpan(2), (ushort)(0x8000 | (byte)DnsCode.FormErr));
        return response;
    }

    private sealed class Writer
    {
        private readonly List<byte> _bytes = [];
        private readonly Dictionary<string, int> _names = new(StringComparer.Ordinal);

        public int Length => _bytes.Count;

        public (int Length, string[] Names) Mark() => (_bytes.Count, [.. _names.Keys]);

        public void Reset((int Length, string[] Names) mark)
        {
            _bytes.RemoveRange(mark.Length, _bytes.Count - mark.Length);
            foreach (var name in _names.Keys.Except(mark.Names).ToList())
            {
                _names.Remove(name);
            }
        }

        public byte[] ToArray() => [.. _bytes];

        public void U16(ushort v)
        {
            _bytes.Add((byte)(v >> 8));
            _bytes.Add((byte)v);
        }

        public void U32(uint v)
        {
            U16((ushort)(v >> 16));
            U16((ushort)v);
        }

        /// <summary>A name, pointing at an earlier occurrence of its longest known suffix (RFC 1035 4.1.4).</summary>
        public void Name(string name)
        {
            var labels = name.Length == 0 ? [] : name.TrimEnd('.').Split('.');
            for (var i = 0; i < labels.Length; i++)
            {
                var suffix = string.Join('.', labels[i..]);
                if (_names.TryGetValue(suffix, out var offset))
                {
                    U16((ushort)(0xc000 | offset));
                    return;
                }
                if (_bytes.Count < 0x3fff)
                {
                    _names[suffix] = _bytes.Count;
                }
                var label = Encoding.ASCII.GetBytes(labels[i]);
                if (label.Length is 0 or > 63)
                {
                    throw new ArgumentException($"invalid label in {name}", nameof(name));
                }
                _bytes.Add((byte)label.Length);
                _bytes.AddRange(label);
            }
            _bytes.Add(0);
        }

        public void Record(DnsRecord r)
        {
            Name(r.Name);
            U16((ushort)r.Type);
            U16(1);
            U32(r.Ttl);
            var lengthAt = _bytes.Count;
            U16(0);
            var start = _bytes.Count;
            switch (r.Type)
            {
                case DnsType.A or DnsType.Aaaa:
                    _bytes.AddRange(IPAddress.Parse(r.Data).GetAddressBytes());
                    break;
                case DnsType.Cname or DnsType.Ptr or DnsType.Ns:
                    Name(r.Data);
                    break;
                case DnsType.Srv:
                    var parts = r.Data.Split(' ');
                    U16(ushort.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture));
                    U16(ushort.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture));
                    U16(ushort.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture));
                    // SRV targets are not compressed (RFC 2782).
                    foreach (var label in parts[3].TrimEnd('.').Split('.'))
                    {
                        var bytes = Encoding.ASCII.GetBytes(label);
                        _bytes.Add((byte)bytes.Length);
                        _bytes.AddRange(bytes);
                    }
                    _bytes.Add(0);
                    break;
                case DnsType.Soa:
                    var soa = r.Data.Split(' ');
                    Name(soa[0]);
                    Name(soa[1]);
                    foreach (var number in soa[2..7])
                    {
                        U32(uint.Parse(number, System.Globalization.CultureInfo.InvariantCulture));
                    }
                    break;
                case DnsType.Txt:
                    var text = Encoding.UTF8.GetBytes(r.Data);
                    _bytes.Add((byte)Math.Min(255, text.Length));
                    _bytes.AddRange(text.Take(255));
                    break;
                default:
                    throw new ArgumentException($"cannot encode {r.Type} records", nameof(r));
            }
            var length = _bytes.Count - start;
            _bytes[lengthAt] = (byte)(length >> 8);
            _bytes[lengthAt + 1] = (byte)length;
        }
    }
}
