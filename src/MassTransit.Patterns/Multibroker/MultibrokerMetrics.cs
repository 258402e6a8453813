using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using MassTransit.Patterns.Diagnostics;

namespace MassTransit.Patterns.Multibroker;

/// <summary>The multibroker's instruments on the <c>MassTransit.Patterns</c> meter, tagged with the broker's name.</summary>
static class MultibrokerMetrics
{
    const string Prefix = PatternsDiagnostics.InstrumentPrefix + "multibroker.";

    /// <summary>Tag naming the broker a measurement refers to.</summary>
    public const string BrokerTag = "masstransit.patterns.multibroker.broker";

    static readonly ConcurrentDictionary<MultibrokerRuntime, byte> Runtimes = new();

    static readonly Counter<long> SentCounter = PatternsDiagnostics.Meter.CreateCounter<long>(
        Prefix + "sent", "{message}", "Messages sent or published through a broker and confirmed by it.");
    static readonly Counter<long> ReceivedCounter = PatternsDiagnostics.Meter.CreateCounter<long>(
        Prefix + "received", "{message}", "Messages received from a broker by its bus.");
    static readonly Counter<long> FailureCounter = PatternsDiagnostics.Meter.CreateCounter<long>(
        Prefix + "send_failures", "{attempt}", "Send attempts on a broker that failed before its confirm (timeout, connection error, nack).");
    static readonly Counter<long> FailoverCounter = PatternsDiagnostics.Meter.CreateCounter<long>(
        Prefix + "failovers", "{message}", "Messages sent again on another broker after a failed attempt (same message id).");
    static readonly Counter<long> HedgeCounter = PatternsDiagnostics.Meter.CreateCounter<long>(
        Prefix + "hedges", "{message}", "Messages also sent to another broker (same message id) because their broker had not confirmed within the hedge delay.");
    static readonly Counter<long> ProbeFailureCounter = PatternsDiagnostics.Meter.CreateCounter<long>(
        Prefix + "probe_failures", "{probe}", "Probes of a broker (a round trip with a short timeout) without an answer in time.");
    static readonly Counter<long> EjectionCounter = PatternsDiagnostics.Meter.CreateCounter<long>(
        Prefix + "ejections", "{ejection}", "Times a broker left the rotation (failed sends or lost connection).");
    static readonly Counter<long> RejoinCounter = PatternsDiagnostics.Meter.CreateCounter<long>(
        Prefix + "rejoined", "{rejoin}", "Times a broker came back into the rotation.");

    static MultibrokerMetrics()
    {
        PatternsDiagnostics.Meter.CreateObservableGauge(Prefix + "broker.healthy", ObserveHealth, "{broker}",
            "1 while a broker is in rotation, 0 while it is out (starting, disconnected or ejected).");
        PatternsDiagnostics.Meter.CreateObservableGauge(Prefix + "brokers.in_rotation", ObserveInRotation, "{broker}",
            "Brokers in rotation.");
    }

    public static void Track(MultibrokerRuntime runtime) => Runtimes.TryAdd(runtime, 0);

    public static void Untrack(MultibrokerRuntime runtime) => Runtimes.TryRemove(runtime, out _);

    static IEnumerable<Measurement<int>> ObserveHealth() =>
        Runtimes.Keys.SelectMany(r => r.Brokers.Select(b => new Measurement<int>(b.State == BrokerState.Healthy ? 1 : 0, Tags(b.Name))));

    static IEnumerable<Measurement<int>> ObserveInRotation() =>
        Runtimes.Keys.Select(r => new Measurement<int>(r.Brokers.Count(b => b.State == BrokerState.Healthy),
            new TagList { { PatternsTags.Pattern, "multibroker" } }));

    static TagList Tags(string broker) => new() { { BrokerTag, broker }, { PatternsTags.Pattern, "multibroker" } };

    public static void Sent(string broker) => SentCounter.Add(1, Tags(broker));

    public static void Received(string broker) => ReceivedCounter.Add(1, Tags(broker));

    public static void SendFailed(string broker) => FailureCounter.Add(1, Tags(broker));

    public static void Failover(string from, string to) =>
        FailoverCounter.Add(1, new TagList { { BrokerTag, to }, { BrokerTag + ".from", from }, { PatternsTags.Pattern, "multibroker" } });

    public static void Hedged(string slow, string next) =>
        HedgeCounter.Add(1, new TagList { { BrokerTag, slow }, { BrokerTag + ".next", next }, { PatternsTags.Pattern, "multibroker" } });

    public static void ProbeFailed(string broker) => ProbeFailureCounter.Add(1, Tags(broker));

    public static void Ejected(string broker, string reason) =>
        EjectionCounter.Add(1, new TagList { { BrokerTag, broker }, { PatternsTags.Outcome, reason }, { PatternsTags.Pattern, "multibroker" } });

    public static void Rejoined(string broker) => RejoinCounter.Add(1, Tags(broker));
}
