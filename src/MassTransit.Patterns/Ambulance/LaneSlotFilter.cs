using System.Diagnostics;

namespace MassTransit.Patterns.Ambulance;

/// <summary>
/// On the queue and on its lane: takes a slot of the shared budget before the message is consumed
/// and frees it after, recording the wait, the lane and (for urgent messages) the time since sent.
/// </summary>
sealed class LaneSlotFilter(LaneGate gate, bool lane, AmbulanceMetrics metrics) : IFilter<ConsumeContext>
{
    public async Task Send(ConsumeContext context, IPipe<ConsumeContext> next)
    {
        var started = Stopwatch.GetTimestamp();
        using var slot = await gate.AcquireAsync(lane, context.CancellationToken).ConfigureAwait(false);
        var waited = Stopwatch.GetElapsedTime(started).TotalMilliseconds;

        var tags = AmbulanceMetrics.Tags(gate, lane);
        metrics.SlotWait.Record(waited, tags);
        if (lane && context.SentTime is { } sent)
        {
            var urgentWait = Math.Max(0, (DateTime.UtcNow - sent).TotalMilliseconds);
            metrics.UrgentWait.Record(urgentWait, tags);
            gate.UrgentWaits.Record(urgentWait);
        }
        tags.Add(AmbulanceMetrics.BorrowedTag, slot.Borrowed);
        metrics.Messages.Add(1, tags);

        if (Activity.Current is { } activity)
        {
            activity.SetTag(AmbulanceMetrics.LaneTag, lane ? "urgent" : "normal");
            if (slot.Borrowed)
                activity.SetTag(AmbulanceMetrics.BorrowedTag, true);
        }

        await next.Send(context).ConfigureAwait(false);
    }

    public void Probe(ProbeContext context)
    {
        var scope = context.CreateFilterScope("ambulanceLane");
        scope.Add("queue", gate.Queue);
        scope.Add("lane", gate.Lane);
        scope.Add("role", lane ? "lane" : "queue");
        scope.Add("mode", gate.Mode.ToString());
    }
}
