namespace Tugboat.Bench;

/// <summary>Latency samples in milliseconds.</summary>
internal sealed class Stats
{
    private readonly List<double> _samples = [];

    public void Add(double ms)
    {
        lock (_samples)
        {
            _samples.Add(ms);
        }
    }

    public int Count => _samples.Count;

    public double Percentile(double p)
    {
        lock (_samples)
        {
            if (_samples.Count == 0)
            {
                return double.NaN;
            }
            var sorted = _samples.Order().ToArray();
            return sorted[Math.Clamp((int)Math.Ceiling(p / 100 * sorted.Length) - 1, 0, sorted.Length - 1)];
        }
    }

    public static double Median(IEnumerable<double> values)
    {
        var s = values.Order().ToArray();
        return s.Length == 0 ? double.NaN : s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }
}
