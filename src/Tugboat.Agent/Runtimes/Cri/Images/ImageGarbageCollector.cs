using Grpc.Core;
using Microsoft.Extensions.Logging;
using Api = Tugboat.Agent.Runtimes.Cri.Api;

namespace Tugboat.Agent.Runtimes.Cri.Images;

/// <summary>
/// The kubelet's image garbage collection with its defaults: every five minutes, when the image filesystem is more than
/// 85 % full, images no container uses (the sandbox image never), known for at least two minutes, are removed least
/// recently used first until usage is back at 80 %.
/// </summary>
internal sealed partial class ImageGarbageCollector(CriClient client, string sandboxImage, ILogger logger, TimeProvider? clock = null)
{
    public const int HighThresholdPercent = 85;
    public const int LowThresholdPercent = 80;
    public static readonly TimeSpan MinAge = TimeSpan.FromMinutes(2);
    public static readonly TimeSpan Period = TimeSpan.FromMinutes(5);

    private readonly TimeProvider _clock = clock ?? TimeProvider.System;
    private readonly Dictionary<string, (DateTimeOffset FirstSeen, DateTimeOffset LastUsed)> _known = new(StringComparer.Ordinal);

    /// <summary>An image as collection sees it.</summary>
    internal sealed record Candidate(string Id, long SizeBytes, DateTimeOffset FirstSeen, DateTimeOffset LastUsed, bool InUse, bool Pinned);

    /// <summary>The images to remove to free <paramref name="bytesToFree"/>: unused, unpinned, old enough, least recently used first.</summary>
    internal static IReadOnlyList<Candidate> Select(IEnumerable<Candidate> images, long bytesToFree, DateTimeOffset now)
    {
        var chosen = new List<Candidate>();
        long freed = 0;
        foreach (var image in images.Where(i => !i.InUse && !i.Pinned && now - i.FirstSeen >= MinAge).OrderBy(i => i.LastUsed).ThenBy(i => i.Id, StringComparer.Ordinal))
        {
            if (freed >= bytesToFree)
            {
                break;
            }
            chosen.Add(image);
            freed += image.SizeBytes;
        }
        return chosen;
    }

    public async Task RunAsync(CancellationToken ct)
    {
        try
        {
            while (!ct.IsCancellationRequested)
            {
                try
                {
                    await CollectAsync(ct).ConfigureAwait(false);
                }
                catch (RpcException e)
                {
                    LogFailed(e.Status.Detail);
                }
                await Task.Delay(Period, _clock, ct).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>One round: notes which images are in use, and removes some when the image filesystem is over the high threshold.</summary>
    public async Task CollectAsync(CancellationToken ct)
    {
        var now = _clock.GetUtcNow();
        var images = (await client.Images.ListImagesAsync(new Api.ListImagesRequest(), CriClient.Options(ct)).ConfigureAwait(false)).Images;
        var containers = (await client.Runtime.ListContainersAsync(new Api.ListContainersRequest(), CriClient.Options(ct)).ConfigureAwait(false)).Containers;
        var used = new HashSet<string>(containers.SelectMany(c => new[] { c.ImageRef, c.ImageId, c.Image?.Image ?? string.Empty }), StringComparer.Ordinal);
        var candidates = new List<Candidate>();
        foreach (var image in images)
        {
            var inUse = used.Contains(image.Id) || image.RepoTags.Any(used.Contains) || image.RepoDigests.Any(used.Contains);
            var (firstSeen, lastUsed) = _known.TryGetValue(image.Id, out var k) ? k : (now, now);
            _known[image.Id] = (firstSeen, inUse ? now : lastUsed);
            var pinned = image.Pinned || image.RepoTags.Contains(sandboxImage);
            candidates.Add(new Candidate(image.Id, (long)image.Size, firstSeen, _known[image.Id].LastUsed, inUse, pinned));
        }
        foreach (var gone in _known.Keys.Except(images.Select(i => i.Id)).ToList())
        {
            _known.Remove(gone);
        }
        var fs = (await client.Images.ImageFsInfoAsync(new Api.ImageFsInfoRequest(), CriClient.Options(ct)).ConfigureAwait(false)).ImageFilesystems.FirstOrDefault();
        if (fs?.FsId?.Mountpoint is not { Length: > 0 } mountpoint || !Directory.Exists(mountpoint))
        {
            return;
        }
        var drive = new DriveInfo(mountpoint);
        var capacity = drive.TotalSize;
        var usedBytes = capacity - drive.AvailableFreeSpace;
        if (capacity <= 0 || usedBytes * 100 / capacity <= HighThresholdPercent)
        {
            return;
        }
        var toFree = usedBytes - capacity * LowThresholdPercent / 100;
        foreach (var image in Select(candidates, toFree, now))
        {
            await client.Images.RemoveImageAsync(new Api.RemoveImageRequest { Image = new Api.ImageSpec { Image = image.Id } }, CriClient.Options(ct)).ConfigureAwait(false);
            _known.Remove(image.Id);
            LogRemoved(image.Id, image.SizeBytes, usedBytes * 100 / capacity);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "image garbage collection removed {Image} ({Bytes} bytes); the image filesystem was {Percent} % full")]
    private partial void LogRemoved(string image, long bytes, long percent);

    [LoggerMessage(Level = LogLevel.Warning, Message = "image garbage collection failed: {Error}")]
    private partial void LogFailed(string error);
}
