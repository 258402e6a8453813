namespace MassTransit.Patterns.Benchmarks.Scenarios.Scale;

/// <summary>One figure of one curve against the size (log x axis): <c>scale-&lt;pattern&gt;-&lt;figure&gt;.png</c>.</summary>
public static class ScalePlot
{
    public static string? Write(string folder, string transport, string pattern, string unit, string figure, IReadOnlyList<ScaleStep> steps)
    {
        var points = steps.Where(s => s.Size > 0 && s.Figures.TryGetValue(figure, out var v) && double.IsFinite(v))
            .Select(s => (X: Math.Log10(s.Size), Y: s.Figures[figure])).ToArray();
        if (points.Length == 0)
            return null;
        try
        {
            var plot = new ScottPlot.Plot();
            var scatter = plot.Add.Scatter(points.Select(p => p.X).ToArray(), points.Select(p => p.Y).ToArray());
            scatter.LegendText = figure;
            scatter.MarkerSize = 7;

            var ticks = new ScottPlot.TickGenerators.NumericManual();
            var low = (int)Math.Floor(points.Min(p => p.X));
            var high = (int)Math.Ceiling(points.Max(p => p.X));
            for (var e = low; e <= high; e++)
                ticks.AddMajor(e, Math.Pow(10, e).ToString("N0", System.Globalization.CultureInfo.InvariantCulture));
            plot.Axes.Bottom.TickGenerator = ticks;
            plot.Axes.Bottom.Label.Text = $"{unit} (log scale)";
            plot.Axes.Left.Label.Text = figure;
            plot.Title($"scale on {transport}: {pattern}, {figure}");
            plot.Axes.SetLimitsX(low - 0.2, high + 0.2);
            var min = Math.Min(0, points.Min(p => p.Y));
            var max = points.Max(p => p.Y);
            plot.Axes.SetLimitsY(min, max <= min ? min + 1 : max * 1.1);

            Directory.CreateDirectory(folder);
            var path = Path.Combine(folder, $"scale-{pattern}-{Safe(figure)}.{transport}.png");
            plot.SavePng(path, 800, 480);
            return path;
        }
        catch (Exception e) when (e is DllNotFoundException or TypeInitializationException or InvalidOperationException)
        {
            Console.Error.WriteLine($"  (no plot: {e.GetType().Name}: {e.Message})");
            return null;
        }
    }

    static string Safe(string name) => new([.. name.Select(c => char.IsLetterOrDigit(c) || c is '_' or '-' ? c : '_')]);
}
