using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using MassTransit.Patterns.Benchmarks.Infrastructure;

namespace MassTransit.Patterns.Benchmarks.Scenarios.Scale;

/// <summary>
/// <c>scale</c>: each pattern's unit of work grown by steps of 10 (<see cref="ScaleCurves.All"/>), each step measured
/// on its own. Writes, besides the flat metrics (<c>&lt;pattern&gt;.&lt;unit&gt;_&lt;size&gt;.&lt;figure&gt;</c> and each
/// curve's summary figures as <c>&lt;pattern&gt;.&lt;figure&gt;</c>), a <c>curves</c> section with per pattern its unit,
/// steps, summary, growth classes and sentence, and one PNG per figure. A curve that fails is recorded with its error
/// and the steps it completed; the other curves still run.
/// </summary>
public sealed class ScaleScenario : IBenchScenario
{
    /// <summary>Summary figures that BENCHMARKS.md names without their pattern's prefix (written both ways).</summary>
    static readonly HashSet<string> Unprefixed = new(StringComparer.Ordinal) { "bytes_per_idle_key" };

    public string Name => "scale";

    public IReadOnlyList<string> Transports { get; } = [BenchContext.InMemory, BenchContext.RabbitMq];

    public async Task<BenchResult> RunAsync(BenchContext context, CancellationToken cancellationToken)
    {
        var result = new BenchResult(Name, context.Transport).Parameter("quick", context.Quick);
        var curves = new JsonObject();
        var failed = 0;
        // SCALE_CURVES=contextual,thread-delegate runs only those curves (to measure one pattern again).
        var only = Environment.GetEnvironmentVariable("SCALE_CURVES")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var curve in ScaleCurves.All(context).Where(c => only is not { Length: > 0 } || only.Contains(c.Pattern, StringComparer.OrdinalIgnoreCase)))
        {
            var node = await RunCurveAsync(context, curve, result, cancellationToken);
            if (node["error"] is not null)
                failed++;
            curves[curve.Pattern] = node;
        }
        result.Metric("curves_failed", failed);
        result.Sections["curves"] = curves;
        return result;
    }

    static async Task<JsonObject> RunCurveAsync(BenchContext context, IScaleCurve curve, BenchResult result, CancellationToken cancellationToken)
    {
        var prefix = curve.Pattern.Replace('-', '_');
        var label = UnitLabel(curve.Unit);
        var steps = new List<ScaleStep>();
        var node = new JsonObject { ["unit"] = curve.Unit };
        var started = Stopwatch.GetTimestamp();
        try
        {
            var sizes = curve.Steps(context);
            node["sizes"] = new JsonArray([.. sizes.Select(s => (JsonNode)s)]);
            foreach (var size in sizes)
            {
                context.Progress($"{curve.Pattern}: {curve.Unit} {size:N0} ...");
                var stepStarted = Stopwatch.GetTimestamp();
                var step = await curve.MeasureAsync(context, size, cancellationToken);
                var figures = new Dictionary<string, double>(step.Figures, StringComparer.Ordinal);
                figures.TryAdd("load_avg_1m", ScaleMachine.LoadAverage());
                figures.TryAdd("step_s", Stopwatch.GetElapsedTime(stepStarted).TotalSeconds);
                step = step with { Figures = figures };
                steps.Add(step);
                foreach (var (figure, value) in step.Figures)
                    if (double.IsFinite(value))
                        result.Metric($"{prefix}.{label}_{size}.{figure}", value);
                context.Progress($"{curve.Pattern}: {curve.Unit} {size:N0}: " +
                    string.Join(", ", step.Figures.Select(f => $"{f.Key}={f.Value.ToString("0.###", CultureInfo.InvariantCulture)}")));
            }
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            node["error"] = $"{e.GetType().Name}: {e.Message}";
            context.Progress($"{curve.Pattern}: FAILED after {steps.Count} step(s): {e.GetType().Name}: {e.Message}");
        }
        node["steps"] = new JsonArray([.. steps.Select(StepNode)]);

        var growth = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var figure in steps.SelectMany(s => s.Figures.Keys).Distinct().Where(f => f is not ("load_avg_1m" or "step_s")))
            growth[figure] = GrowthFit.Classify([.. steps.Where(s => s.Figures.ContainsKey(figure)).Select(s => ((double)s.Size, s.Figures[figure]))]);

        if (steps.Count > 0)
        {
            try
            {
                var summary = curve.Summarize(steps);
                foreach (var (name, klass) in summary.Growth)
                    growth[name] = klass;
                var figures = new JsonObject();
                foreach (var (name, value) in summary.Figures.OrderBy(f => f.Key, StringComparer.Ordinal))
                {
                    figures[name] = double.IsFinite(value) ? Math.Round(value, 4) : null;
                    if (!double.IsFinite(value))
                        continue;
                    result.Metric($"{prefix}.{name}", value);
                    if (Unprefixed.Contains(name))
                        result.Metric(name, value);
                }
                node["summary"] = figures;
                node["sentence"] = summary.Sentence;
                context.Progress($"{curve.Pattern}: {summary.Sentence}");
            }
            catch (Exception e)
            {
                node["error"] = (node["error"]?.GetValue<string>() + " ") + $"summary: {e.GetType().Name}: {e.Message}";
                context.Progress($"{curve.Pattern}: summary FAILED: {e.GetType().Name}: {e.Message}");
            }
        }
        node["growth"] = new JsonObject([.. growth.Select(g => KeyValuePair.Create(g.Key, (JsonNode?)g.Value))]);
        node["seconds"] = Math.Round(Stopwatch.GetElapsedTime(started).TotalSeconds, 1);

        var plots = new JsonArray();
        // A figure with one value at every step (a parameter such as the cap) has nothing to show.
        foreach (var figure in growth.Keys.Where(f => steps.Where(s => s.Figures.ContainsKey(f)).Select(s => s.Figures[f]).Distinct().Count() > 1))
            if (ScalePlot.Write(context.OutputFolder, context.Transport, curve.Pattern, curve.Unit, figure, steps) is { } path)
                plots.Add(Path.GetFileName(path));
        node["plots"] = plots;
        return node;
    }

    static JsonNode StepNode(ScaleStep step) => new JsonObject
    {
        ["size"] = step.Size,
        ["figures"] = new JsonObject([.. step.Figures.OrderBy(f => f.Key, StringComparer.Ordinal)
            .Select(f => KeyValuePair.Create(f.Key, double.IsFinite(f.Value) ? (JsonNode?)Math.Round(f.Value, 4) : null))])
    };

    /// <summary>The unit's last word, as the metric label: "distinct keys" gives "keys".</summary>
    public static string UnitLabel(string unit)
    {
        var words = unit.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return words.Length == 0 ? "size" : new string([.. words[^1].ToLowerInvariant().Where(char.IsLetterOrDigit)]);
    }
}
