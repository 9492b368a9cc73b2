using Tugboat.Network.Dns;

namespace Tugboat.Network.Tests.Dns;

public sealed class DnsMessageTests
{
    // What `dig web.default.svc.cluster.local` sends: ID 0x1234, RD, one question (A, IN), an EDNS(0) OPT record (1232).
    private static readonly byte[] DigQuery = Convert.FromHexString(
        "123401200001000000000001" + "03776562" + "0764656661756c74" + "03737663" + "07636c7573746572" + "056c6f63616c" + "00" + "00010001"
        + "00" + "0029" + "04d0" + "00000000" + "0000");

    [Fact]
    public void ParsesAQueryWithItsEdnsPayloadSize()
    {
        var query = DnsMessage.Parse(DigQuery);
        Assert.Equal(0x1234, query.Id);
        Assert.True(query.RecursionDesired);
        Assert.False(query.IsResponse);
        Assert.Equal(new DnsQuestion("web.default.svc.cluster.local", DnsType.A), Assert.Single(query.Questions));
        Assert.Equal((ushort)1232, query.EdnsPayload);
    }

    [Fact]
    public void RepliesRoundTripWithCompressedNames()
    {
        var query = DnsMessage.Parse(DigQuery);
        var answers = Enumerable.Range(1, 3).Select(i => new DnsRecord("web.default.svc.cluster.local", DnsType.A, 5, $"10.42.0.{i}")).ToList();
        var srv = new DnsRecord("_http._tcp.web.default.svc.cluster.local", DnsType.Srv, 5, "0 100 80 web.default.svc.cluster.local");
        var reply = DnsMessage.Reply(query, DnsCode.NoError, [.. answers, srv]);
        var bytes = reply.Encode();
        var parsed = DnsMessage.Parse(bytes);
        Assert.True(parsed.IsResponse);
        Assert.True(parsed.Authoritative);
        Assert.Equal(0x1234, parsed.Id);
        Assert.Equal([.. answers, srv], parsed.Answers);
        Assert.Equal((ushort)4096, parsed.EdnsPayload);
        // Each repeated owner name is a two-byte pointer: far shorter than writing the 31-byte name four more times.
        Assert.True(bytes.Length < 12 + 35 + (4 * (31 + 14)), $"{bytes.Length} bytes");
    }

    [Fact]
    public void AnswersThatDoNotFitAreLeftOutAndTheMessageMarkedTruncated()
    {
        var query = DnsMessage.Parse(DigQuery) is var q ? new DnsMessage { Id = q.Id, RecursionDesired = true, Questions = q.Questions } : null!;
        var answers = Enumerable.Range(0, 100).Select(i => new DnsRecord("web.default.svc.cluster.local", DnsType.A, 5, $"10.42.{i / 250}.{i % 250}")).ToList();
        var reply = DnsMessage.Reply(query, DnsCode.NoError, answers);
        var udp = reply.Encode(512);
        Assert.True(udp.Length <= 512);
        var parsed = DnsMessage.Parse(udp);
        Assert.True(parsed.Truncated);
        Assert.InRange(parsed.Answers.Count, 20, 99);
        // Over TCP everything fits.
        var tcp = DnsMessage.Parse(reply.Encode());
        Assert.False(tcp.Truncated);
        Assert.Equal(100, tcp.Answers.Count);
    }

    [Theory]
    [InlineData("", "shorter than its 12-byte header")]
    [InlineData("1234", "shorter than its 12-byte header")]
    [InlineData("123401000001000000000000" + "05616263", "ends inside a field")]
    [InlineData("123401000001000000000000" + "c00c", "points forward")]
    [InlineData("123401000001000000000000" + "0161" + "c00c", "compression loop")]
    [InlineData("123401000001000000000000" + "41", "unknown label type")]
    [InlineData("123401000001000000000000" + "0161" + "00" + "0001", "ends inside a field")]
    public void MalformedMessagesAreRejected(string hex, string why)
    {
        var e = Assert.Throws<DnsFormatException>(() => DnsMessage.Parse(Convert.FromHexString(hex)));
        Assert.Contains(why, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void APointerAheadOfItselfIsRejected()
    {
        // A pointer to a later pointer (which points back): pointers must point backwards; loops through earlier data
        // are caught by the jump limit instead.
        var message = Convert.FromHexString("123401000001000000000000" + "c00e" + "c00c");
        var e = Assert.Throws<DnsFormatException>(() => DnsMessage.Parse(message));
        Assert.Contains("points forward", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FormatErrorsKeepTheQueryId()
    {
        var formErr = DnsMessage.FormatError(Convert.FromHexString("beef01"));
        var parsed = DnsMessage.Parse(formErr!);
        Assert.Equal(0xbeef, parsed.Id);
        Assert.Equal(DnsCode.FormErr, parsed.Code);
        Assert.True(parsed.IsResponse);
        Assert.Null(DnsMessage.FormatError([0x12]));
    }
}
