using System.Text.Json.Nodes;
using Tugboat.Api.Meta;

namespace Tugboat.Api.Tests.Meta;

public sealed class QuantityTests
{
    [Theory]
    [InlineData("100m", 100)]
    [InlineData("1", 1000)]
    [InlineData("1.5", 1500)]
    [InlineData("0.1", 100)]
    [InlineData("1e3", 1_000_000)]
    [InlineData("1k", 1_000_000)]
    [InlineData("250u", 1)]
    public void CpuInMilli(string text, long milli) => Assert.Equal(milli, Quantity.Milli(JsonValue.Create(text)));

    [Theory]
    [InlineData("64Mi", 64L * 1024 * 1024)]
    [InlineData("1Gi", 1L << 30)]
    [InlineData("1G", 1_000_000_000L)]
    [InlineData("128974848", 128974848L)]
    [InlineData("129e6", 129_000_000L)]
    [InlineData("123Mi", 123L * 1024 * 1024)]
    [InlineData("0.5Ki", 512L)]
    public void Bytes(string text, long bytes) => Assert.Equal(bytes, Quantity.Value(JsonValue.Create(text)));

    [Theory]
    [InlineData("")]
    [InlineData("abc")]
    [InlineData("1Xi")]
    [InlineData("1e99")]
    public void RejectsWhatUpstreamRejects(string text) => Assert.False(Quantity.TryParse(text, out _));

    [Fact]
    public void NumbersAndAbsenceAreRead() => Assert.Equal((3000L, 0L), (Quantity.Milli(JsonValue.Create(3)), Quantity.Value(null)));
}
