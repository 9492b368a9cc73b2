namespace Tugboat.Agent.Runtimes.Cri.Images;

/// <summary>
/// The pod sandbox ("pause") image, built by the agent from the node's static catatonit when containerd does not
/// have it, so that a node never needs a registry to start a pod (Debian ships no pause image).
/// </summary>
internal static class SandboxImages
{
    public const string Name = "tugboat.local/pause:catatonit";

    public const string Catatonit = "/usr/bin/catatonit";

    /// <summary>The sandbox image archive: catatonit as /pause, reaping children (-P) as pause does.</summary>
    public static ImageArchive Archive(string catatonit = Catatonit) =>
        new ImageArchive { Name = Name, Entrypoint = ["/pause", "-P"], Env = [] }.AddFile("pause", catatonit);
}
