using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using MassTransit.Patterns.Diagnostics;

namespace MassTransit.Patterns.Ambulance;

/// <summary>
/// The ambulance lane's instruments, on the <c>MassTransit.Patterns</c> meter of the container's
/// <see cref="IMeterFactory"/>, all named <c>masstransit.patterns.ambulance.*</c> and tagged with the
/// queue the lane stands beside. Created by <c>UseAmbulanceLane</c> (or taken from the container when registered there);
/// the constants name the instruments and tags.
/// </summary>
public sealed class AmbulanceMetrics
{
    /// <summary>Tag: which lane a message went through, <c>urgent</c> or <c>normal</c>.</summary>
    public const string LaneTag = "masstransit.patterns.ambulance.lane";

    /// <summary>Tag: true when normal work ran on one of the lane's idle slots (ambulance mode).</summary>
    public const string BorrowedTag = "masstransit.patterns.ambulance.borrowed";

    /// <summary>Tag: the classifier rule that marked a message urgent, <c>predicate</c> or <c>attribute</c>.</summary>
    public const string RuleTag = "masstransit.patterns.ambulance.rule";

    /// <summary>Instrument: messages consumed per lane (counter; tags queue, lane, borrowed).</summary>
    public const string MessagesName = PatternsDiagnostics.InstrumentPrefix + "ambulance.messages";

    /// <summary>Instrument: how long an urgent message waited from being sent until it got a slot (histogram, ms).</summary>
    public const string UrgentWaitName = PatternsDiagnostics.InstrumentPrefix + "ambulance.urgent.wait";

    /// <summary>Instrument: time a received message waited for a slot of the shared budget (histogram, ms; tag lane).</summary>
    public const string SlotWaitName = PatternsDiagnostics.InstrumentPrefix + "ambulance.slot.wait";

    /// <summary>
    /// Instrument: urgent messages this process holds from the lane, waiting for a slot or in flight
    /// (observable gauge). The lane queue's depth on the broker is the queue depth monitor's
    /// <c>masstransit.patterns.queue.depth.ready</c> with the lane's queue name; the lane adds
    /// its queue to the monitor when one is registered.
    /// </summary>
    public const string LaneDepthName = PatternsDiagnostics.InstrumentPrefix + "ambulance.lane.depth";

    /// <summary>Instrument: messages in flight per lane (observable gauge; tags queue, lane, borrowed).</summary>
    public const string InFlightName = PatternsDiagnostics.InstrumentPrefix + "ambulance.in_flight";

    /// <summary>Instrument: lane copies dropped at the normal queue (the lane consumed their twin) (counter).</summary>
    public const string LaneCopiesName = PatternsDiagnostics.InstrumentPrefix + "ambulance.lane_copies";

    /// <summary>Instrument: messages the classifier marked urgent when sent or published (counter; tag rule).</summary>
    public const string ClassifiedName = PatternsDiagnostics.InstrumentPrefix + "ambulance.classified";

    readonly ConditionalWeakTable<LaneGate, object> _gates = new();

    /// <summary>Creates the instruments on the container's <c>MassTransit.Patterns</c> meter.</summary>
    internal AmbulanceMetrics(PatternsMeter meter)
    {
        ArgumentNullException.ThrowIfNull(meter);
        var m = meter.Meter;
        Messages = m.CreateCounter<long>(MessagesName, "{message}", "Messages consumed through a queue with an ambulance lane, per lane.");
        UrgentWait = m.CreateHistogram<double>(UrgentWaitName, "ms", "Time from sending an urgent message until it got a slot on its lane.");
        SlotWait = m.CreateHistogram<double>(SlotWaitName, "ms",
            "Time a received message waited for a slot of the budget its queue shares with its lane.");
        LaneCopies = m.CreateCounter<long>(LaneCopiesName, "{message}", "Lane copies of urgent messages dropped at the normal queue.");
        Classified = m.CreateCounter<long>(ClassifiedName, "{message}", "Messages marked urgent by the classifier when sent or published.");
        m.CreateObservableGauge(LaneDepthName, ObserveDepth, "{message}",
            "Urgent messages this process holds from the lane: waiting for a slot or in flight.");
        m.CreateObservableGauge(InFlightName, ObserveInFlight, "{message}",
            "Messages in flight through a queue with an ambulance lane, per lane.");
    }

    internal Counter<long> Messages { get; }

    internal Histogram<double> UrgentWait { get; }

    internal Histogram<double> SlotWait { get; }

    internal Counter<long> LaneCopies { get; }

    internal Counter<long> Classified { get; }

    internal void Track(LaneGate gate) => _gates.AddOrUpdate(gate, gate);

    internal static TagList Tags(LaneGate gate, bool urgent) => new()
    {
        { PatternsTags.Pattern, "ambulance" },
        { PatternsTags.Queue, gate.Queue },
        { LaneTag, urgent ? "urgent" : "normal" }
    };

    IEnumerable<Measurement<long>> ObserveDepth()
    {
        foreach (var (gate, _) in _gates)
        {
            var state = gate.State;
            yield return new Measurement<long>(state.UrgentInUse + state.UrgentWaiting, Tags(gate, urgent: true));
        }
    }

    IEnumerable<Measurement<long>> ObserveInFlight()
    {
        foreach (var (gate, _) in _gates)
        {
            var state = gate.State;
            yield return new Measurement<long>(state.UrgentInUse, Tags(gate, urgent: true));
            var own = Tags(gate, urgent: false);
            own.Add(BorrowedTag, false);
            yield return new Measurement<long>(state.NormalInUse - state.Borrowed, own);
            var borrowed = Tags(gate, urgent: false);
            borrowed.Add(BorrowedTag, true);
            yield return new Measurement<long>(state.Borrowed, borrowed);
        }
    }
}
