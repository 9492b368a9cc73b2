using Tugboat.Agent.Runtimes.Cri.Images;
using Candidate = Tugboat.Agent.Runtimes.Cri.Images.ImageGarbageCollector.Candidate;

namespace Tugboat.Agent.Tests.Runtimes.Cri;

/// <summary>Which images the kubelet's garbage collection removes: unused, unpinned, old enough, least recently used first, until enough is freed.</summary>
public sealed class ImageGarbageCollectorTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);

    private static Candidate Image(string id, long size, int usedMinutesAgo, bool inUse = false, bool pinned = false, int seenMinutesAgo = 60) =>
        new(id, size, Now.AddMinutes(-seenMinutesAgo), Now.AddMinutes(-usedMinutesAgo), inUse, pinned);

    [Fact]
    public void Least_recently_used_unused_images_go_first_until_enough_is_freed()
    {
        var images = new[] { Image("recent", 100, 1), Image("old", 100, 50), Image("older", 100, 55), Image("running", 500, 60, inUse: true) };
        Assert.Equal(["older", "old"], ImageGarbageCollector.Select(images, 150, Now).Select(i => i.Id));
    }

    [Fact]
    public void The_sandbox_image_images_in_use_and_new_images_are_kept()
    {
        var images = new[] { Image("pause", 100, 60, pinned: true), Image("used", 100, 60, inUse: true), Image("new", 100, 0, seenMinutesAgo: 1) };
        Assert.Empty(ImageGarbageCollector.Select(images, 1_000, Now));
    }

    [Fact]
    public void Nothing_is_removed_when_nothing_needs_freeing()
    {
        Assert.Empty(ImageGarbageCollector.Select([Image("old", 100, 60)], 0, Now));
    }
}
