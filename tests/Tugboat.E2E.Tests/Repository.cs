namespace Tugboat.E2E.Tests;

/// <summary>The repository the tests run from, and the example image they build from it.</summary>
internal static class Repository
{
    public static string Root()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Tugboat.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("the tests run outside the repository");
    }

    /// <summary>Builds the busybox image offline with examples/images/busybox-image.py as <paramref name="name"/> into <paramref name="archive"/>.</summary>
    public static async Task BuildBusyboxImageAsync(string archive, string name)
    {
        using var build = System.Diagnostics.Process.Start("python3", [Path.Combine(Root(), "examples", "images", "busybox-image.py"), archive, name])!;
        await build.WaitForExitAsync();
        Assert.Equal(0, build.ExitCode);
    }
}
