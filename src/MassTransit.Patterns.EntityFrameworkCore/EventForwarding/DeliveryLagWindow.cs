namespace MassTransit.Patterns.EntityFrameworkCore.EventForwarding;

/// <summary>
/// The lags of the last <see cref="Capacity"/> outbox deliveries (a ring buffer written under a lock, no allocation per
/// delivery), from which the operations view reads the median and the 99th percentile.
/// </summary>
sealed class DeliveryLagWindow
{
    public const int Capacity = 1024;

    readonly Lock _lock = new();
    readonly double[] _milliseconds = new double[Capacity];
    int _next;
    int _count;

    public void Record(double milliseconds)
    {
        lock (_lock)
        {
            _milliseconds[_next] = milliseconds;
            _next = (_next + 1) % Capacity;
            if (_count < Capacity)
                _count++;
        }
    }

    /// <summary>The samples held, the median and the 99th percentile (nearest rank); null percentiles when empty.</summary>
    public (int Samples, TimeSpan? P50, TimeSpan? P99) Read()
    {
        double[] copy;
        lock (_lock)
        {
            copy = new double[_count];
            Array.Copy(_milliseconds, copy, _count);
        }
        if (copy.Length == 0)
            return (0, null, null);
        Array.Sort(copy);
        return (copy.Length, TimeSpan.FromMilliseconds(Rank(copy, 0.50)), TimeSpan.FromMilliseconds(Rank(copy, 0.99)));
    }

    static double Rank(double[] sorted, double quantile) => sorted[Math.Clamp((int)Math.Ceiling(quantile * sorted.Length) - 1, 0, sorted.Length - 1)];
}
