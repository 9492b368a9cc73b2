namespace Tugboat.Scheduler.Framework;

/// <summary>What plugins compute for one pod's scheduling cycle and share between extension points.</summary>
public sealed class CycleState
{
    private readonly Dictionary<string, object> _data = new(StringComparer.Ordinal);

    public void Write(string key, object value) => _data[key] = value;

    public T? Read<T>(string key)
        where T : class => _data.TryGetValue(key, out var v) ? v as T : null;
}
