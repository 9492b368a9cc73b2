namespace Tugboat.Agent.Runtime;

/// <summary>A runtime that runs containers from images it pulls and stores (the CRI's image service).</summary>
public interface IImageRuntime
{
    /// <summary>
    /// Makes <paramref name="image"/> present as <paramref name="pullPolicy"/> asks (Always, IfNotPresent, Never), with
    /// the registry credentials of the pod's imagePullSecrets; says whether it pulled and how big the image is.
    /// </summary>
    /// <exception cref="ImagePullException">The image is not there and could not (or may not) be pulled.</exception>
    Task<ImagePullResult> EnsureImageAsync(string image, string pullPolicy, IReadOnlyList<RegistryCredential> credentials, CancellationToken ct);

    /// <summary>The user an image runs as: its numeric ID when it has one, else its name (empty: root by default); null when the image is not present.</summary>
    Task<(long? Uid, string Username)?> ImageUserAsync(string image, CancellationToken ct);

    /// <summary>The images the runtime holds, as node status lists them (names, size in bytes).</summary>
    Task<IReadOnlyList<(IReadOnlyList<string> Names, long SizeBytes)>> ListImagesAsync(CancellationToken ct);
}

/// <param name="Pulled">False when the image was already present and not pulled.</param>
public sealed record ImagePullResult(bool Pulled, TimeSpan Took, long SizeBytes);

/// <summary>A registry login from a pod's imagePullSecrets (dockerconfigjson or dockercfg).</summary>
public sealed record RegistryCredential(string Registry, string? Username, string? Password, string? Auth, string? IdentityToken);

/// <summary>An image that is not there and could not be pulled; <see cref="Reason"/> is upstream's (ErrImagePull, ErrImageNeverPull, InvalidImageName).</summary>
public sealed class ImagePullException(string reason, string message) : Exception(message)
{
    public string Reason { get; } = reason;
}
