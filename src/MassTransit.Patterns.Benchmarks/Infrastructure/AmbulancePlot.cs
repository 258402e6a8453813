namespace MassTransit.Patterns.Benchmarks.Infrastructure;

/// <summary>The ambulance scenario's curve: each urgent message's wait (log scale) against when it was sent, one series per variant.</summary>
public static class AmbulancePlot
{
    public static string? Write(string folder, string scenario, string transport, IReadOnlyDictionary<string, IReadOnlyList<(double AtSeconds, double WaitMs)>> series, double boundMs)
    {
        try
        {
            var plot = new ScottPlot.Plot();
            foreach (var (name, points) in series)
            {
                var scatter = plot.Add.ScatterPoints(
                    points.Select(p => p.AtSeconds).ToArray(),
                    points.Select(p => Math.Log10(Math.Max(0.5, p.WaitMs))).ToArray());
                scatter.LegendText = name;
                scatter.MarkerSize = 5;
            }

            var bound = plot.Add.HorizontalLine(Math.Log10(boundMs));
            bound.LegendText = $"one message's work ({boundMs:0} ms): the in-flight bound";
            bound.LinePattern = ScottPlot.LinePattern.Dashed;

            var ticks = new ScottPlot.TickGenerators.NumericManual();
            foreach (var ms in new[] { 1, 10, 100, 1_000, 10_000, 100_000 })
                ticks.AddMajor(Math.Log10(ms), ms >= 1_000 ? $"{ms / 1_000} s" : $"{ms} ms");
            plot.Axes.Left.TickGenerator = ticks;
            plot.Axes.Left.Label.Text = "urgent wait, send to consume (log scale)";
            plot.Axes.Bottom.Label.Text = "urgent message sent at (s after the backlog starts draining)";
            plot.Title($"{scenario} on {transport}: urgent messages behind a normal backlog");
            plot.ShowLegend();
            plot.Legend.Alignment = ScottPlot.Alignment.MiddleRight;

            Directory.CreateDirectory(folder);
            var path = Path.Combine(folder, $"{scenario}.{transport}.png");
            plot.SavePng(path, 1000, 560);
            return path;
        }
        catch (Exception e) when (e is DllNotFoundException or TypeInitializationException or InvalidOperationException)
        {
            Console.Error.WriteLine($"  (no plot: {e.GetType().Name}: {e.Message})");
            return null;
        }
    }
}
