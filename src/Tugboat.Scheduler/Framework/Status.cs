namespace Tugboat.Scheduler.Framework;

public enum StatusCode
{
    Success,

    /// <summary>The pod does not fit now; something may change (a pod leaving frees resources), and preemption may help.</summary>
    Unschedulable,

    /// <summary>The pod can never fit on this node as it is (a selector or taint), and preemption cannot help.</summary>
    UnschedulableAndUnresolvable,

    Error,

    /// <summary>
    /// From a pre-filter or pre-score plugin: nothing to check or score for this pod (every node would pass, or score
    /// the same), so the plugin's Filter or Score is not run (upstream's Skip).
    /// </summary>
    Skip,
}

/// <summary>The outcome of a plugin: success or why not, in upstream's words (they are counted into the pod's condition message).</summary>
public readonly record struct Status(StatusCode Code, string? Reason = null)
{
    public static Status Success { get; } = new(StatusCode.Success);

    public bool IsSuccess => Code == StatusCode.Success;

    public static Status Unschedulable(string reason) => new(StatusCode.Unschedulable, reason);

    public static Status Unresolvable(string reason) => new(StatusCode.UnschedulableAndUnresolvable, reason);

    public static Status Skip { get; } = new(StatusCode.Skip);
}
