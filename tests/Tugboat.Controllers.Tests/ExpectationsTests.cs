using Tugboat.Controllers.Runtime;

namespace Tugboat.Controllers.Tests;

public sealed class ExpectationsTests
{
    [Fact]
    public void UnsatisfiedUntilEveryRequestedChangeIsObserved()
    {
        var e = new Expectations();
        Assert.True(e.Satisfied("ns/a"));
        e.Expect("ns/a", adds: 2, deletes: 0);
        Assert.False(e.Satisfied("ns/a"));
        e.Observed("ns/a", added: true);
        Assert.False(e.Satisfied("ns/a"));
        e.Observed("ns/a", added: true);
        Assert.True(e.Satisfied("ns/a"));
    }

    [Fact]
    public void FailedRequestsAndForgottenKeysDoNotBlock()
    {
        var e = new Expectations();
        e.Expect("ns/a", adds: 0, deletes: 1);
        e.Failed("ns/a", add: false);
        Assert.True(e.Satisfied("ns/a"));
        e.Expect("ns/b", adds: 3, deletes: 0);
        e.Forget("ns/b");
        Assert.True(e.Satisfied("ns/b"));
        e.Expect("ns/c", adds: 1, deletes: 1);
        e.Observed("ns/c", added: true);
        Assert.False(e.Satisfied("ns/c"));
        e.Observed("ns/c", added: false);
        Assert.True(e.Satisfied("ns/c"));
    }
}
