namespace MassTransit.Patterns.Ambulance;

/// <summary>
/// The latest urgent waits of one lane, for a dashboard's percentiles: a fixed ring of (when, how long) written under a
/// short lock, nothing allocated per message. Reading copies the waits within a window and sorts them.
/// </summary>
sealed class UrgentWaitReservoir(int capacity = UrgentWaitReservoir.DefaultCapacity)
{
    public const int DefaultCapacity = 512;

    readonly long[] _at = new long[capacity];
    readonly double[] _waitMs = new double[capacity];
    readonly Lock _lock = new();
    int _next;
    int _count;

    /// <summary>Records one urgent wait, stamped with <see cref="Environment.TickCount64"/>.</summary>
    public void Record(double waitMs) => Record(waitMs, Environment.TickCount64);

    internal void Record(double waitMs, long atMs)
    {
        lock (_lock)
        {
            _at[_next] = atMs;
            _waitMs[_next] = waitMs;
            _next = (_next + 1) % _at.Length;
            if (_count < _at.Length)
                _count++;
        }
    }

    /// <summary>The waits recorded within <paramref name="window"/> before <paramref name="nowMs"/>, sorted ascending.</summary>
    public double[] Within(TimeSpan window, long nowMs)
    {
        var since = nowMs - (long)window.TotalMilliseconds;
        var list = new List<double>();
        lock (_lock)
        {
            for (var i = 0; i < _count; i++)
            {
                var at = _at[(_next - 1 - i + _at.Length) % _at.Length];
                if (at >= since)
                    list.Add(_waitMs[(_next - 1 - i + _at.Length) % _at.Length]);
            }
        }
        list.Sort();
        return list.ToArray();
    }

    /// <summary>The nearest-rank percentile <paramref name="p"/> (0..1] of sorted <paramref name="sorted"/>, or null when empty.</summary>
    public static double? Percentile(double[] sorted, double p) =>
        sorted.Length == 0 ? null : sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
}
