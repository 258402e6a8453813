using System.Diagnostics;

namespace MassTransit.Patterns.Ambulance;

/// <summary>
/// On the queue and on its lane: takes a slot of the shared budget before the message is consumed
/// and frees it after, recording the wait, the lane and (for urgent messages) the time since sent.
/// </summary>
sealed class LaneSlotFilter(LaneGate gate, bool lane) : IFilter<ConsumeContext>
{
    public async Task Send(ConsumeContext context, IPipe<ConsumeContext> next)
    {
        var started = Stopwatch.GetTimestamp();
        using var slot = await gate.AcquireAsync(lane, context.CancellationToken).ConfigureAwait(false);
        var waited = Stopwatch.GetElapsedTime(started).TotalMilliseconds;

        var tags = AmbulanceMetrics.Tags(gate, lane);
        AmbulanceMetrics.SlotWait.Record(waited, tags);
        if (lane && context.SentTime is { } sent)
            AmbulanceMetrics.UrgentWait.Record(Math.Max(0, (DateTime.UtcNow - sent).TotalMilliseconds), tags);
        tags.Add(AmbulanceMetrics.BorrowedTag, slot.Borrowed);
        AmbulanceMetrics.Messages.Add(1, tags);

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

/// <summary>
/// On the normal queue, before anything else: drops the copy of an urgent message that the fork
/// also routed to the lane (the lane consumes its twin). Dropping here, in the receive pipe, acks
/// the copy without deserializing it and without moving it to the skipped queue.
/// </summary>
sealed class LaneCopyFilter(IAmbulanceLaneTransport transport, AmbulanceLaneOptions lane) : IFilter<ReceiveContext>
{
    public Task Send(ReceiveContext context, IPipe<ReceiveContext> next)
    {
        if (!transport.IsLaneCopy(context))
            return next.Send(context);

        AmbulanceMetrics.LaneCopies.Add(1, new KeyValuePair<string, object?>(Diagnostics.PatternsTags.Queue, lane.QueueName));
        return Task.CompletedTask;
    }

    public void Probe(ProbeContext context)
    {
        var scope = context.CreateFilterScope("ambulanceLaneCopies");
        scope.Add("queue", lane.QueueName);
        scope.Add("lane", lane.LaneName);
        scope.Add("transport", transport.Name);
    }
}
