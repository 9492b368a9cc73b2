namespace Tugboat.Controllers.Runtime;

/// <summary>
/// A level-based control loop: brings the world in line with the object named by a key (<c>namespace/name</c>).
/// Throwing requeues the key with backoff; returning normally forgets its failures.
/// </summary>
public interface IReconciler
{
    Task ReconcileAsync(string key, CancellationToken cancellationToken);
}
