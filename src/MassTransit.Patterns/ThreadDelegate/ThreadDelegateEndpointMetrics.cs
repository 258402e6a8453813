using System.Diagnostics;
using MassTransit.Patterns.Diagnostics;

namespace MassTransit.Patterns.ThreadDelegate;

/// <summary>One endpoint's thread delegate measurements, tagged with its queue.</summary>
internal sealed class ThreadDelegateEndpointMetrics(ThreadDelegateMetrics metrics, string endpoint)
{
    readonly TagList _tags = new() { { PatternsTags.Queue, endpoint }, { PatternsTags.Pattern, "thread_delegate" } };

    public void LanesBusy(int delta) => metrics.LanesBusy.Add(delta, _tags);

    public void KeysInFlight(int delta) => metrics.KeysInFlight.Add(delta, _tags);

    public void Buffered(int delta) => metrics.Buffered.Add(delta, _tags);

    public void KeysHeld(int delta) => metrics.KeysHeld.Add(delta, _tags);

    public void Waited(double milliseconds) => metrics.Wait.Record(milliseconds, _tags);

    public void GapSkipped(long deliveries) => metrics.Gaps.Add(deliveries, _tags);

    public void LateArrival() => metrics.Late.Add(1, _tags);

    public void AdmissionPaused() => metrics.Paused.Add(1, _tags);

    public void Parked() => metrics.Parked.Add(1, _tags);

    public void Returned(long deliveries) => metrics.Returned.Add(deliveries, _tags);
}
