using System.Diagnostics;
using System.Diagnostics.Metrics;
using MassTransit.Patterns.Diagnostics;

namespace MassTransit.Patterns.ThreadDelegate;

/// <summary>The thread delegate's instruments on the <c>MassTransit.Patterns</c> meter, tagged with the endpoint's queue.</summary>
sealed class ThreadDelegateMetrics(string endpoint)
{
    const string Prefix = PatternsDiagnostics.InstrumentPrefix + "thread_delegate.";

    static readonly UpDownCounter<long> LanesBusyCounter = PatternsDiagnostics.Meter.CreateUpDownCounter<long>(
        Prefix + "lanes.busy", "{lane}", "Lanes running a message.");
    static readonly UpDownCounter<long> KeysInFlightCounter = PatternsDiagnostics.Meter.CreateUpDownCounter<long>(
        Prefix + "keys.in_flight", "{key}", "Keys with messages admitted and not yet finished (the allocation map).");
    static readonly UpDownCounter<long> BufferedCounter = PatternsDiagnostics.Meter.CreateUpDownCounter<long>(
        Prefix + "buffered", "{message}", "Messages admitted to a lane and waiting for their turn.");
    static readonly UpDownCounter<long> KeysHeldCounter = PatternsDiagnostics.Meter.CreateUpDownCounter<long>(
        Prefix + "keys.held", "{key}", "Keys held after a failure (FailedKey = Hold).");
    static readonly Histogram<double> WaitHistogram = PatternsDiagnostics.Meter.CreateHistogram<double>(
        Prefix + "key.wait", "ms", "Time a message waited for its turn behind earlier messages of its lane (its key's wait).");
    static readonly Counter<long> GapsCounter = PatternsDiagnostics.Meter.CreateCounter<long>(
        Prefix + "sequence.gaps_skipped", "{delivery}", "Deliveries that never reached the filter and whose place in the sequence was skipped after the gap timeout.");
    static readonly Counter<long> LateCounter = PatternsDiagnostics.Meter.CreateCounter<long>(
        Prefix + "sequence.late", "{delivery}", "Deliveries that reached the filter after their gap had been skipped (run as they came).");
    static readonly Counter<long> PausedCounter = PatternsDiagnostics.Meter.CreateCounter<long>(
        Prefix + "admission.paused", "{pause}", "Times admission paused because the total buffer was full.");

    static readonly Counter<long> ParkedCounter = PatternsDiagnostics.Meter.CreateCounter<long>(
        Prefix + "parked", "{message}", "Messages that waited on their key because its lane was full (other keys were admitted past them).");
    static readonly Counter<long> ReturnedCounter = PatternsDiagnostics.Meter.CreateCounter<long>(
        Prefix + "sequence.returned", "{delivery}", "Deliveries returned to the queue unprocessed because the endpoint stopped while an earlier delivery was missing.");

    readonly TagList _tags = new() { { PatternsTags.Queue, endpoint }, { PatternsTags.Pattern, "thread_delegate" } };

    public void LanesBusy(int delta) => LanesBusyCounter.Add(delta, _tags);

    public void KeysInFlight(int delta) => KeysInFlightCounter.Add(delta, _tags);

    public void Buffered(int delta) => BufferedCounter.Add(delta, _tags);

    public void KeysHeld(int delta) => KeysHeldCounter.Add(delta, _tags);

    public void Waited(double milliseconds) => WaitHistogram.Record(milliseconds, _tags);

    public void GapSkipped(long deliveries) => GapsCounter.Add(deliveries, _tags);

    public void LateArrival() => LateCounter.Add(1, _tags);

    public void AdmissionPaused() => PausedCounter.Add(1, _tags);

    public void Parked() => ParkedCounter.Add(1, _tags);

    public void Returned(long deliveries) => ReturnedCounter.Add(deliveries, _tags);
}
