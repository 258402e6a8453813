using System.Globalization;
using HdrHistogram;

namespace MassTransit.Patterns.Benchmarks.Scenarios.Scale;

/// <summary>
/// What the watch, workflow, supervisor fleet and multibroker curves share: the machine's load at a step, latency
/// histograms in microseconds, and the growth class of a figure from the slope of log(figure) over log(size).
/// </summary>
static class CurveFigures
{
    /// <summary>The 1-minute load average (2 shared cores: above 2 the figures are slowed by others), 0 where unknown.</summary>
    public static double LoadAverage()
    {
        try
        {
            var text = File.ReadAllText("/proc/loadavg");
            return double.Parse(text.Split(' ')[0], CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return 0;
        }
        catch (UnauthorizedAccessException)
        {
            return 0;
        }
    }

    /// <summary>Microseconds, 1 µs to 10 minutes.</summary>
    public static LongHistogram Histogram() => new(1, TimeSpan.FromMinutes(10).Ticks / 10, 3);

    public static double Ms(LongHistogram histogram, double percentile) =>
        histogram.TotalCount == 0 ? 0 : histogram.GetValueAtPercentile(percentile) / 1000.0;

    /// <summary>
    /// The growth class of <paramref name="figure"/> over the steps: the slope b of log(y) = a + b log(size), least squares:
    /// b &lt; 0.15 constant, &lt; 0.6 log (grows, far slower than the size), &lt; 1.25 linear, else worse.
    /// Steps where the figure is missing or not positive are left out; fewer than two left: constant.
    /// </summary>
    public static string Growth(IReadOnlyList<ScaleStep> steps, string figure)
    {
        var points = steps.Where(s => s.Size > 0 && s.Figures.TryGetValue(figure, out var v) && v > 0)
            .Select(s => (X: Math.Log(s.Size), Y: Math.Log(s.Figures[figure]))).ToList();
        if (points.Count < 2)
            return "constant";
        var mx = points.Average(p => p.X);
        var my = points.Average(p => p.Y);
        var sxx = points.Sum(p => (p.X - mx) * (p.X - mx));
        if (sxx == 0)
            return "constant";
        var slope = points.Sum(p => (p.X - mx) * (p.Y - my)) / sxx;
        return slope switch
        {
            < 0.15 => "constant",
            < 0.6 => "log",
            < 1.25 => "linear",
            _ => "worse"
        };
    }

    /// <summary>The figure at the largest step that has it, or 0.</summary>
    public static double AtLargest(IReadOnlyList<ScaleStep> steps, string figure) =>
        steps.OrderByDescending(s => s.Size).Select(s => s.Figures.TryGetValue(figure, out var v) ? v : (double?)null).FirstOrDefault(v => v is not null) ?? 0;

    public static string N(double value) => value.ToString("N0", CultureInfo.InvariantCulture);

    public static string F(double value, string format = "0.0") => value.ToString(format, CultureInfo.InvariantCulture);
}
