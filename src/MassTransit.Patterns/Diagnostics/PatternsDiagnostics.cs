using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace MassTransit.Patterns.Diagnostics;

/// <summary>
/// The one meter and activity source of MassTransit.Patterns. Every pattern records its metrics on
/// meter (one per container, created by the container's <see cref="IMeterFactory"/>) and its traces on
/// <see cref="ActivitySource"/>, both named <see cref="Name"/>,
/// so that one OpenTelemetry line (<c>AddMeter("MassTransit.Patterns")</c>) collects them all.
/// </summary>
public static class PatternsDiagnostics
{
    /// <summary>The name of the meter and of the activity source: <c>MassTransit.Patterns</c>.</summary>
    public const string Name = "MassTransit.Patterns";

    internal static readonly string? Version = typeof(PatternsDiagnostics).Assembly.GetName().Version?.ToString();

    /// <summary>The activity source on which every pattern starts its activities.</summary>
    public static ActivitySource ActivitySource { get; } = new(Name, Version);

    /// <summary>Instrument names share this prefix, e.g. <c>masstransit.patterns.queue.depth</c>.</summary>
    public const string InstrumentPrefix = "masstransit.patterns.";
}
