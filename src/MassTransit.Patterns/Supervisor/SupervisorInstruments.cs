using System.Diagnostics.Metrics;
using MassTransit.Patterns.Diagnostics;

namespace MassTransit.Patterns.Supervisor;

/// <summary>
/// The supervisor-consumer pattern's instruments on the container's <c>MassTransit.Patterns</c> meter
/// (see <see cref="PatternsMeter"/>); one per container, shared by its supervisors and the fleet saga.
/// </summary>
internal sealed class SupervisorInstruments
{
    public const string Prefix = PatternsDiagnostics.InstrumentPrefix + "supervisor.";

    public const string DirectionTag = "masstransit.patterns.supervisor.direction";

    public static readonly KeyValuePair<string, object?> PatternTag = new(PatternsTags.Pattern, "supervisor");

    public SupervisorInstruments(PatternsMeter meter)
    {
        ArgumentNullException.ThrowIfNull(meter);
        var m = meter.Meter;
        Limit = m.CreateGauge<int>(Prefix + "concurrency.target", "{consumer}", "Consumers the supervisor allows on the endpoint (its concurrency limit).");
        Active = m.CreateGauge<int>(Prefix + "concurrency.actual", "{consumer}", "Messages being consumed on the endpoint when the supervisor last looked.");
        Waiting = m.CreateGauge<int>(Prefix + "concurrency.waiting", "{message}", "Delivered messages held waiting for a consumer when the supervisor last looked.");
        Depth = m.CreateGauge<long>(Prefix + "depth", "{message}", "The depth the supervisor's last decision followed.");
        Decisions = m.CreateCounter<long>(Prefix + "decisions", "{decision}", "Changes of the endpoint's concurrency limit, tagged by direction (up, down).");
        ProbeFailures = m.CreateCounter<long>(Prefix + "probe.failures", "{failure}", "Depth readings that failed; the supervisor held its level each time.");
        FleetFailures = m.CreateCounter<long>(Prefix + "fleet.failures", "{failure}", "Heartbeats the supervisor saga did not answer in time.");
        ConsumerSeconds = m.CreateCounter<double>(Prefix + "consumer_seconds", "s", "Integral of the concurrency limit over time: what the endpoint's consumers cost.");
        FleetTarget = m.CreateGauge<int>(Prefix + "fleet.target", "{consumer}", "Consumers the supervisor saga wants the whole fleet to run.");
        FleetInstances = m.CreateGauge<int>(Prefix + "fleet.instances", "{instance}", "Live instances sharing a supervised queue.");
    }

    public Gauge<int> Limit { get; }
    public Gauge<int> Active { get; }
    public Gauge<int> Waiting { get; }
    public Gauge<long> Depth { get; }
    public Counter<long> Decisions { get; }
    public Counter<long> ProbeFailures { get; }
    public Counter<long> FleetFailures { get; }
    public Counter<double> ConsumerSeconds { get; }
    public Gauge<int> FleetTarget { get; }
    public Gauge<int> FleetInstances { get; }

    /// <summary>The instruments of <paramref name="provider"/>'s container (registered, or made on its meter).</summary>
    public static SupervisorInstruments From(IServiceProvider provider) =>
        PatternsMeter.Metrics(provider, meter => new SupervisorInstruments(meter));
}
