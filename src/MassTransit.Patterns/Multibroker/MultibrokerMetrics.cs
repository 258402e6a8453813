using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using MassTransit.Patterns.Diagnostics;

namespace MassTransit.Patterns.Multibroker;

/// <summary>
/// The multibroker's instruments on the container's <c>MassTransit.Patterns</c> meter (from its <see cref="IMeterFactory"/>),
/// tagged with the broker's name. A singleton of the container (registered by <c>AddMultibroker</c>): its gauges read the
/// runtime of that container only.
/// </summary>
sealed class MultibrokerMetrics
{
    const string Prefix = PatternsDiagnostics.InstrumentPrefix + "multibroker.";

    /// <summary>Tag naming the broker a measurement refers to.</summary>
    public const string BrokerTag = "masstransit.patterns.multibroker.broker";

    readonly ConcurrentDictionary<MultibrokerRuntime, byte> _runtimes = new();
    readonly Counter<long> _sent;
    readonly Counter<long> _received;
    readonly Counter<long> _failures;
    readonly Counter<long> _failovers;
    readonly Counter<long> _hedges;
    readonly Counter<long> _probeFailures;
    readonly Counter<long> _ejections;
    readonly Counter<long> _rejoins;
    readonly Counter<long> _suppressed;

    public MultibrokerMetrics(PatternsMeter meter)
    {
        ArgumentNullException.ThrowIfNull(meter);
        var m = meter.Meter;
        _sent = m.CreateCounter<long>(Prefix + "sent", "{message}", "Messages sent or published through a broker and confirmed by it.");
        _received = m.CreateCounter<long>(Prefix + "received", "{message}", "Messages received from a broker by its bus.");
        _failures = m.CreateCounter<long>(Prefix + "send_failures", "{attempt}",
            "Send attempts on a broker that failed before its confirm (timeout, connection error, nack).");
        _failovers = m.CreateCounter<long>(Prefix + "failovers", "{message}", "Messages sent again on another broker after a failed attempt (same message id).");
        _hedges = m.CreateCounter<long>(Prefix + "hedges", "{message}",
            "Messages also sent to another broker (same message id) because their broker had not confirmed within the hedge delay.");
        _probeFailures = m.CreateCounter<long>(Prefix + "probe_failures", "{probe}",
            "Probes of a broker (a round trip with a short timeout) without an answer in time.");
        _ejections = m.CreateCounter<long>(Prefix + "ejections", "{ejection}", "Times a broker left the rotation (failed sends or lost connection).");
        _rejoins = m.CreateCounter<long>(Prefix + "rejoined", "{rejoin}", "Times a broker came back into the rotation.");
        _suppressed = m.CreateCounter<long>(Prefix + "duplicates_suppressed", "{message}",
            "Copies of an already consumed message (same id, endpoint and consumer) acknowledged without running the consumer.");
        m.CreateObservableGauge(Prefix + "broker.healthy", ObserveHealth, "{broker}",
            "1 while a broker is in rotation, 0 while it is out (starting, disconnected or ejected).");
        m.CreateObservableGauge(Prefix + "brokers.in_rotation", ObserveInRotation, "{broker}", "Brokers in rotation.");
    }

    public void Track(MultibrokerRuntime runtime) => _runtimes.TryAdd(runtime, 0);

    public void Untrack(MultibrokerRuntime runtime) => _runtimes.TryRemove(runtime, out _);

    IEnumerable<Measurement<int>> ObserveHealth() =>
        _runtimes.Keys.SelectMany(r => r.Brokers.Select(b => new Measurement<int>(b.State == BrokerState.Healthy ? 1 : 0, Tags(b.Name))));

    IEnumerable<Measurement<int>> ObserveInRotation() =>
        _runtimes.Keys.Select(r => new Measurement<int>(r.Brokers.Count(b => b.State == BrokerState.Healthy),
            new TagList { { PatternsTags.Pattern, "multibroker" } }));

    static TagList Tags(string broker) => new() { { BrokerTag, broker }, { PatternsTags.Pattern, "multibroker" } };

    public void Sent(string broker) => _sent.Add(1, Tags(broker));

    public void Received(string broker) => _received.Add(1, Tags(broker));

    public void SendFailed(string broker) => _failures.Add(1, Tags(broker));

    public void Failover(string from, string to) =>
        _failovers.Add(1, new TagList { { BrokerTag, to }, { BrokerTag + ".from", from }, { PatternsTags.Pattern, "multibroker" } });

    public void Hedged(string slow, string next) =>
        _hedges.Add(1, new TagList { { BrokerTag, slow }, { BrokerTag + ".next", next }, { PatternsTags.Pattern, "multibroker" } });

    public void ProbeFailed(string broker) => _probeFailures.Add(1, Tags(broker));

    public void Ejected(string broker, string reason) =>
        _ejections.Add(1, new TagList { { BrokerTag, broker }, { PatternsTags.Outcome, reason }, { PatternsTags.Pattern, "multibroker" } });

    public void Rejoined(string broker) => _rejoins.Add(1, Tags(broker));

    public void DuplicateSuppressed() => _suppressed.Add(1, new KeyValuePair<string, object?>(PatternsTags.Pattern, "multibroker"));
}
