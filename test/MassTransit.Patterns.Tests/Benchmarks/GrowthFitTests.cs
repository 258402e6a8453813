using MassTransit.Patterns.Benchmarks.Scenarios.Scale;

namespace MassTransit.Patterns.Tests.Benchmarks;

/// <summary>The scale benchmark's growth classes, from the log-log slope of a figure against the size.</summary>
public sealed class GrowthFitTests
{
    static readonly double[] Sizes = [100, 1_000, 10_000, 100_000, 1_000_000];

    static (double X, double Y)[] Curve(Func<double, double> f) => [.. Sizes.Select(x => (x, f(x)))];

    [Fact]
    public void A_flat_figure_is_constant() => Assert.Equal(GrowthFit.Constant, GrowthFit.Classify(Curve(_ => 42)));

    [Fact]
    public void A_figure_that_is_zero_everywhere_is_constant() => Assert.Equal(GrowthFit.Constant, GrowthFit.Classify(Curve(_ => 0)));

    [Fact]
    public void A_logarithmic_figure_is_log() => Assert.Equal(GrowthFit.Log, GrowthFit.Classify(Curve(x => Math.Log10(x))));

    [Fact]
    public void A_square_root_figure_is_sublinear() => Assert.Equal(GrowthFit.Sublinear, GrowthFit.Classify(Curve(Math.Sqrt)));

    [Fact]
    public void A_proportional_figure_is_linear()
    {
        Assert.Equal(GrowthFit.Linear, GrowthFit.Classify(Curve(x => 3 * x)));
        Assert.Equal(1.0, GrowthFit.LogLogSlope(Curve(x => 3 * x)), 6);
    }

    [Fact]
    public void A_quadratic_figure_is_worse() => Assert.Equal(GrowthFit.Worse, GrowthFit.Classify(Curve(x => x * x)));

    [Fact]
    public void A_figure_that_halves_per_step_is_falling() => Assert.Equal(GrowthFit.Falling, GrowthFit.Classify(Curve(x => 1e6 / x)));

    [Fact]
    public void The_floor_keeps_noise_near_zero_from_reading_as_growth()
    {
        // Memory kept of a few bytes to a few KB, under a 64 KB resolution: constant; without the floor it reads as growth.
        var noise = Curve(x => x < 10_000 ? 10 : 4_000);
        Assert.NotEqual(GrowthFit.Constant, GrowthFit.Classify(noise));
        Assert.Equal(GrowthFit.Constant, GrowthFit.Classify(noise, floor: 65_536));
    }

    [Fact]
    public void Fewer_than_two_usable_points_fit_nothing()
    {
        Assert.True(double.IsNaN(GrowthFit.LogLogSlope([(100, 5)])));
        Assert.True(double.IsNaN(GrowthFit.LogLogSlope([(100, 5), (1_000, -1), (0, 3)])));
        Assert.Equal(GrowthFit.Constant, GrowthFit.ClassOfSlope(double.NaN));
    }
}
