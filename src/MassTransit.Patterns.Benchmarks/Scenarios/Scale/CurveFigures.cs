using System.Globalization;
using HdrHistogram;

namespace MassTransit.Patterns.Benchmarks.Scenarios.Scale;

/// <summary>
/// What the watch, workflow, supervisor fleet and multibroker curves share: the machine's load at a step, latency
/// histograms in microseconds, and the growth class of a figure (GrowthFit).
/// </summary>
static class CurveFigures
{
    /// <summary>The 1-minute load average (2 shared cores: above 2 the figures are slowed by others), 0 where unknown.</summary>
    public static double LoadAverage() => ScaleMachine.LoadAverage() is var load && double.IsFinite(load) ? load : 0;

    /// <summary>Microseconds, 1 µs to 10 minutes.</summary>
    public static LongHistogram Histogram() => new(1, TimeSpan.FromMinutes(10).Ticks / 10, 3);

    public static double Ms(LongHistogram histogram, double percentile) =>
        histogram.TotalCount == 0 ? 0 : histogram.GetValueAtPercentile(percentile) / 1000.0;

    /// <summary>The growth class of <paramref name="figure"/> over the steps (<see cref="GrowthFit"/>), on the steps that have it.</summary>
    public static string Growth(IReadOnlyList<ScaleStep> steps, string figure) =>
        GrowthFit.Classify(steps.Where(s => s.Figures.ContainsKey(figure)).Select(s => ((double)s.Size, s.Figures[figure])).ToList());

    /// <summary>The figure at the largest step that has it, or 0.</summary>
    public static double AtLargest(IReadOnlyList<ScaleStep> steps, string figure) =>
        steps.OrderByDescending(s => s.Size).Select(s => s.Figures.TryGetValue(figure, out var v) ? v : (double?)null).FirstOrDefault(v => v is not null) ?? 0;

    public static string N(double value) => value.ToString("N0", CultureInfo.InvariantCulture);

    public static string F(double value, string format = "0.0") => value.ToString(format, CultureInfo.InvariantCulture);
}
