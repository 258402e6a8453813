using System.Diagnostics.Metrics;
using MassTransit.Patterns.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace MassTransit.Patterns.QueueDepth;

/// <summary>
/// The queue depth monitor's instruments (<c>masstransit.patterns.queue.depth.*</c>), on the <c>MassTransit.Patterns</c>
/// meter of the container's <see cref="IMeterFactory"/>.
/// </summary>
sealed class QueueDepthMetrics
{
    const string Prefix = PatternsDiagnostics.InstrumentPrefix + "queue.depth.";

    public QueueDepthMetrics(PatternsMeter meter)
    {
        ArgumentNullException.ThrowIfNull(meter);
        var m = meter.Meter;
        ReadyGauge = m.CreateGauge<long>(Prefix + "ready", "{message}", "Messages ready in a watched queue.");
        UnackedGauge = m.CreateGauge<long>(Prefix + "unacknowledged", "{message}", "Messages delivered and not yet acknowledged in a watched queue.");
        FailureCounter = m.CreateCounter<long>(Prefix + "probe.failures", "{failure}", "Queue depth readings that failed.");
        DurationHistogram = m.CreateHistogram<double>(Prefix + "probe.duration", "ms", "Time taken by one queue depth reading.");
    }

    public Gauge<long> ReadyGauge { get; }

    public Gauge<long> UnackedGauge { get; }

    public Counter<long> FailureCounter { get; }

    public Histogram<double> DurationHistogram { get; }

    /// <summary>Registers the instruments (and the meter they live on) with the container, once.</summary>
    public static IServiceCollection Register(IServiceCollection services)
    {
        PatternsMeter.Register(services);
        services.TryAddSingleton(sp => new QueueDepthMetrics(sp.GetRequiredService<PatternsMeter>()));
        return services;
    }
}
