namespace Tugboat.Agent.Kubelet;

/// <summary>
/// The kubelet's restart back-off for one container: the first restart is immediate, then 10 s doubling to 5 min; a
/// container that ran for 10 minutes starts over.
/// </summary>
internal sealed class Backoff
{
    public static readonly TimeSpan Initial = TimeSpan.FromSeconds(10);
    public static readonly TimeSpan Max = TimeSpan.FromMinutes(5);

    private TimeSpan? _current;

    /// <summary>How long to wait before the next restart of a container that ran for <paramref name="ranFor"/>.</summary>
    public TimeSpan Next(TimeSpan ranFor)
    {
        if (ranFor >= 2 * Max)
        {
            _current = null;
        }
        if (_current is null)
        {
            _current = TimeSpan.Zero;
            return TimeSpan.Zero;
        }
        _current = _current == TimeSpan.Zero ? Initial : TimeSpan.FromTicks(Math.Min(_current.Value.Ticks * 2, Max.Ticks));
        return _current.Value;
    }
}
