using System.Text.Json;
using System.Text.Json.Nodes;

namespace MassTransit.Patterns.Benchmarks.Infrastructure;

/// <summary>
/// One scenario's outcome in the contract's shape:
/// <c>{"scenario", "transport", "machine", "parameters": {...}, "metrics": {"name": number}}</c>.
/// Metric names are a contract read by outside checks: add, never rename.
/// </summary>
public sealed class BenchResult(string scenario, string transport)
{
    public string Scenario { get; } = scenario;
    public string Transport { get; } = transport;
    public SortedDictionary<string, object> Parameters { get; } = new(StringComparer.Ordinal);
    public SortedDictionary<string, double> Metrics { get; } = new(StringComparer.Ordinal);

    /// <summary>Further top-level sections of the JSON (e.g. the scale scenario's <c>curves</c>), written after the metrics.</summary>
    public SortedDictionary<string, JsonNode?> Sections { get; } = new(StringComparer.Ordinal);

    public BenchResult Parameter(string name, object value)
    {
        Parameters[name] = value;
        return this;
    }

    public BenchResult Metric(string name, double value)
    {
        Metrics[name] = Math.Round(value, 4);
        return this;
    }

    public static string Machine =>
        $"{Environment.MachineName}; {Environment.ProcessorCount} cores; {System.Runtime.InteropServices.RuntimeInformation.OSDescription}; .NET {Environment.Version}";

    public async Task WriteAsync(string folder)
    {
        Directory.CreateDirectory(folder);
        var json = new JsonObject
        {
            ["scenario"] = Scenario,
            ["transport"] = Transport,
            ["machine"] = Machine,
            ["parameters"] = JsonSerializer.SerializeToNode(Parameters),
            ["metrics"] = JsonSerializer.SerializeToNode(Metrics)
        };
        foreach (var (name, section) in Sections)
            json[name] = section?.DeepClone();
        await File.WriteAllTextAsync(Path.Combine(folder, $"{Scenario}.{Transport}.json"),
            json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + Environment.NewLine);

        var summary = Path.Combine(folder, "summary.md");
        if (!File.Exists(summary))
            await File.WriteAllTextAsync(summary, "| when | scenario | transport | metrics |\n| --- | --- | --- | --- |\n");
        var metrics = string.Join(", ", Metrics.Select(m => $"{m.Key}={m.Value.ToString(System.Globalization.CultureInfo.InvariantCulture)}"));
        await File.AppendAllTextAsync(summary, $"| {DateTime.UtcNow:yyyy-MM-dd HH:mm}Z | {Scenario} | {Transport} | {metrics} |\n");
    }
}

/// <summary>A benchmark scenario of BENCHMARKS.md.</summary>
public interface IBenchScenario
{
    string Name { get; }

    /// <summary>Transports the scenario makes sense on.</summary>
    IReadOnlyList<string> Transports { get; }

    Task<BenchResult> RunAsync(BenchContext context, CancellationToken cancellationToken);
}
