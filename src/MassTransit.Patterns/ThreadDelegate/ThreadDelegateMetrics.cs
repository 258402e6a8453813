using System.Diagnostics;
using System.Diagnostics.Metrics;
using MassTransit.Patterns.Diagnostics;

namespace MassTransit.Patterns.ThreadDelegate;

/// <summary>
/// The thread delegate's instruments on the container's <c>MassTransit.Patterns</c> meter (a DI
/// singleton, see <see cref="PatternsMeter"/>); each endpoint records through <see cref="For"/>, tagged with its queue.
/// </summary>
internal sealed class ThreadDelegateMetrics
{
    const string Prefix = PatternsDiagnostics.InstrumentPrefix + "thread_delegate.";

    public ThreadDelegateMetrics(PatternsMeter meter)
    {
        ArgumentNullException.ThrowIfNull(meter);
        var m = meter.Meter;
        LanesBusy = m.CreateUpDownCounter<long>(Prefix + "lanes.busy", "{lane}", "Lanes running a message.");
        KeysInFlight = m.CreateUpDownCounter<long>(Prefix + "keys.in_flight", "{key}", "Keys with messages admitted and not yet finished (the allocation map).");
        Buffered = m.CreateUpDownCounter<long>(Prefix + "buffered", "{message}", "Messages admitted to a lane and waiting for their turn.");
        KeysHeld = m.CreateUpDownCounter<long>(Prefix + "keys.held", "{key}", "Keys held after a failure (FailedKey = Hold).");
        Wait = m.CreateHistogram<double>(Prefix + "key.wait", "ms", "Time a message waited for its turn behind earlier messages of its lane (its key's wait).");
        Gaps = m.CreateCounter<long>(Prefix + "sequence.gaps_skipped", "{delivery}", "Deliveries that never reached the filter and whose place in the sequence was skipped after the gap timeout.");
        Late = m.CreateCounter<long>(Prefix + "sequence.late", "{delivery}", "Deliveries that reached the filter after their gap had been skipped (run as they came).");
        Paused = m.CreateCounter<long>(Prefix + "admission.paused", "{pause}", "Times admission paused because the total buffer was full.");
        Parked = m.CreateCounter<long>(Prefix + "parked", "{message}", "Messages that waited on their key because its lane was full (other keys were admitted past them).");
        Returned = m.CreateCounter<long>(Prefix + "sequence.returned", "{delivery}", "Deliveries returned to the queue unprocessed because the endpoint stopped while an earlier delivery was missing.");
    }

    internal UpDownCounter<long> LanesBusy { get; }
    internal UpDownCounter<long> KeysInFlight { get; }
    internal UpDownCounter<long> Buffered { get; }
    internal UpDownCounter<long> KeysHeld { get; }
    internal Histogram<double> Wait { get; }
    internal Counter<long> Gaps { get; }
    internal Counter<long> Late { get; }
    internal Counter<long> Paused { get; }
    internal Counter<long> Parked { get; }
    internal Counter<long> Returned { get; }

    /// <summary>The recorder of one endpoint's thread delegate.</summary>
    public ThreadDelegateEndpointMetrics For(string endpoint) => new(this, endpoint);
}
