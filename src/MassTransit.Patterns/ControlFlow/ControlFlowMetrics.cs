using System.Diagnostics.Metrics;
using MassTransit.Patterns.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace MassTransit.Patterns.ControlFlow;

/// <summary>
/// Producer control flow's instruments (<c>masstransit.patterns.control_flow.*</c>), on the <c>MassTransit.Patterns</c>
/// meter of the container's <see cref="IMeterFactory"/>: the producers' gate records throttled, rejected and bypassed
/// sends, the flow monitor its transitions and the state of each watched queue.
/// </summary>
sealed class ControlFlowMetrics
{
    const string Prefix = PatternsDiagnostics.InstrumentPrefix + "control_flow.";

    readonly Meter _meter;

    public ControlFlowMetrics(PatternsMeter meter)
    {
        ArgumentNullException.ThrowIfNull(meter);
        _meter = meter.Meter;
        Throttled = _meter.CreateCounter<long>(Prefix + "throttled", "{message}", "Sends delayed, rate-limited or held by flow control.");
        Rejected = _meter.CreateCounter<long>(Prefix + "rejected", "{message}", "Sends refused with BackPressureException.");
        ThrottledTime = _meter.CreateHistogram<double>(Prefix + "throttled_time", "ms", "Time a send spent held by flow control.");
        UrgentBypassed = _meter.CreateCounter<long>(Prefix + "urgent_bypassed", "{message}",
            "Urgent (ambulance-marked) sends and publishes let past a slowed or stopped queue.");
        Transitions = _meter.CreateCounter<long>(Prefix + "transitions", "{transition}", "Flow state changes decided by the monitor.");
    }

    public Counter<long> Throttled { get; }

    public Counter<long> Rejected { get; }

    public Histogram<double> ThrottledTime { get; }

    public Counter<long> UrgentBypassed { get; }

    public Counter<long> Transitions { get; }

    /// <summary>The flow state per watched queue (0 normal, 1 slow, 2 stop), read from the monitor that calls this, once.</summary>
    public ObservableGauge<int> ObserveStates(Func<IEnumerable<Measurement<int>>> states) =>
        _meter.CreateObservableGauge(Prefix + "state", states, "{state}", "Flow state per watched queue: 0 normal, 1 slow, 2 stop.");

    /// <summary>Registers the instruments (and the meter they live on) with the container, once.</summary>
    public static IServiceCollection Register(IServiceCollection services)
    {
        PatternsMeter.Register(services);
        services.TryAddSingleton(sp => new ControlFlowMetrics(sp.GetRequiredService<PatternsMeter>()));
        return services;
    }

    /// <summary>The container's instruments, or new ones on its meter when the container was not given them by an <c>AddXxx</c>.</summary>
    public static ControlFlowMetrics From(IServiceProvider provider) =>
        PatternsMeter.Metrics(provider, meter => new ControlFlowMetrics(meter));
}
