namespace MassTransit.Patterns.Benchmarks.Scenarios.Scale;

/// <summary>
/// The growth class of a figure over a curve, from the slope of log(figure) against log(size) (least squares):
/// about 0 is constant, below 0.3 log-like, up to 0.7 sublinear, up to 1.2 linear, above that worse; a figure that
/// falls by more than noise is "falling". Pure, so it is unit tested (test/MassTransit.Patterns.Tests links this file).
/// </summary>
public static class GrowthFit
{
    public const string Constant = "constant";
    public const string Log = "log";
    public const string Sublinear = "sublinear";
    public const string Linear = "linear";
    public const string Worse = "worse";
    public const string Falling = "falling";

    /// <summary>The least-squares slope of log10(y) on log10(x) over the points with x &gt; 0 and y &gt; 0; NaN with fewer than two such points.</summary>
    public static double LogLogSlope(IReadOnlyList<(double X, double Y)> points)
    {
        ArgumentNullException.ThrowIfNull(points);
        var usable = points.Where(p => p.X > 0 && p.Y > 0 && double.IsFinite(p.X) && double.IsFinite(p.Y))
            .Select(p => (X: Math.Log10(p.X), Y: Math.Log10(p.Y))).ToArray();
        if (usable.Length < 2)
            return double.NaN;
        var meanX = usable.Average(p => p.X);
        var meanY = usable.Average(p => p.Y);
        var sxx = usable.Sum(p => (p.X - meanX) * (p.X - meanX));
        if (sxx == 0)
            return double.NaN;
        return usable.Sum(p => (p.X - meanX) * (p.Y - meanY)) / sxx;
    }

    /// <summary>
    /// The class of a figure's growth. A figure that is zero (or not positive) at every step is constant; one that is
    /// zero at some steps and positive at others is classed on its positive points. <paramref name="floor"/> lifts
    /// every value to at least that much first (a measurement's resolution: 1 ms of latency, 1 KB of memory), so noise
    /// around zero does not read as growth.
    /// </summary>
    public static string Classify(IReadOnlyList<(double X, double Y)> points, double floor = 0)
    {
        ArgumentNullException.ThrowIfNull(points);
        var lifted = points.Select(p => (p.X, Y: Math.Max(p.Y, floor))).ToArray();
        if (lifted.All(p => !(p.Y > 0)))
            return Constant;
        return ClassOfSlope(LogLogSlope(lifted));
    }

    /// <summary>The class of a log-log slope (NaN: constant, nothing to fit).</summary>
    public static string ClassOfSlope(double slope) => slope switch
    {
        double.NaN => Constant,
        <= -0.1 => Falling,
        < 0.1 => Constant,
        < 0.3 => Log,
        < 0.7 => Sublinear,
        <= 1.2 => Linear,
        _ => Worse
    };
}
