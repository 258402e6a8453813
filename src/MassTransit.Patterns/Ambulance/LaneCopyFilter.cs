namespace MassTransit.Patterns.Ambulance;

/// <summary>
/// On the normal queue, before anything else: drops the copy of an urgent message that the fork
/// also routed to the lane (the lane consumes its twin). Dropping here, in the receive pipe, acks
/// the copy without deserializing it and without moving it to the skipped queue.
/// </summary>
sealed class LaneCopyFilter(IAmbulanceLaneTransport transport, AmbulanceLaneOptions lane, AmbulanceMetrics metrics) : IFilter<ReceiveContext>
{
    public Task Send(ReceiveContext context, IPipe<ReceiveContext> next)
    {
        if (!transport.IsLaneCopy(context))
            return next.Send(context);

        metrics.LaneCopies.Add(1, new KeyValuePair<string, object?>(Diagnostics.PatternsTags.Queue, lane.QueueName));
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
