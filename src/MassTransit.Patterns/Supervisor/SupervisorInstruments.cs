using System.Diagnostics.Metrics;
using MassTransit.Patterns.Diagnostics;

namespace MassTransit.Patterns.Supervisor;

/// <summary>The supervisor-consumer pattern's instruments, all on <see cref="PatternsDiagnostics.Meter"/>.</summary>
static class SupervisorInstruments
{
    public const string Prefix = PatternsDiagnostics.InstrumentPrefix + "supervisor.";

    public static readonly KeyValuePair<string, object?> PatternTag = new(PatternsTags.Pattern, "supervisor");

    public static readonly Gauge<int> Limit = PatternsDiagnostics.Meter.CreateGauge<int>(
        Prefix + "concurrency.target", "{consumer}", "Consumers the supervisor allows on the endpoint (its concurrency limit).");

    public static readonly Gauge<int> Active = PatternsDiagnostics.Meter.CreateGauge<int>(
        Prefix + "concurrency.actual", "{consumer}", "Messages being consumed on the endpoint when the supervisor last looked.");

    public static readonly Gauge<int> Waiting = PatternsDiagnostics.Meter.CreateGauge<int>(
        Prefix + "concurrency.waiting", "{message}", "Delivered messages held waiting for a consumer when the supervisor last looked.");

    public static readonly Gauge<long> Depth = PatternsDiagnostics.Meter.CreateGauge<long>(
        Prefix + "depth", "{message}", "The depth the supervisor's last decision followed.");

    public static readonly Counter<long> Decisions = PatternsDiagnostics.Meter.CreateCounter<long>(
        Prefix + "decisions", "{decision}", "Changes of the endpoint's concurrency limit, tagged by direction (up, down).");

    public static readonly Counter<long> ProbeFailures = PatternsDiagnostics.Meter.CreateCounter<long>(
        Prefix + "probe.failures", "{failure}", "Depth readings that failed; the supervisor held its level each time.");

    public static readonly Counter<long> FleetFailures = PatternsDiagnostics.Meter.CreateCounter<long>(
        Prefix + "fleet.failures", "{failure}", "Heartbeats the supervisor saga did not answer in time.");

    public static readonly Counter<double> ConsumerSeconds = PatternsDiagnostics.Meter.CreateCounter<double>(
        Prefix + "consumer_seconds", "s", "Integral of the concurrency limit over time: what the endpoint's consumers cost.");

    public const string DirectionTag = "masstransit.patterns.supervisor.direction";
}
