namespace MassTransit.Patterns.ThreadDelegate;

using DeliveryTicket = ThreadDelegateDispatcher.DeliveryTicket;

/// <summary>
/// First filter of the receive pipe: gives each delivery its position in the transport's delivery
/// order before MassTransit's concurrent dispatch can reorder it, skips the position of a delivery
/// that never reaches the lanes (a message that fails to deserialize, say), and, once the rest of the
/// receive pipe has completed (a failed message moved to the error queue), lets a failed message leave its lane.
/// </summary>
sealed class DeliveryOrderFilter(ThreadDelegateDispatcher dispatcher) : IFilter<ReceiveContext>
{
    public Task Send(ReceiveContext context, IPipe<ReceiveContext> next)
    {
        var ticket = dispatcher.Issue(context);
        if (dispatcher.StartupSettling(ticket) is { } settling)
            return dispatcher.CompleteThroughGate(AfterSettle(settling, context, next), ticket);
        return Continue(ticket, context, next);
    }

    /// <summary>A delivery parked in the in-memory start-up batch: it goes on once the batch has closed and given it its position.</summary>
    static async Task AfterSettle(Task settling, ReceiveContext context, IPipe<ReceiveContext> next)
    {
        await settling.ConfigureAwait(false);
        await next.Send(context).ConfigureAwait(false);
    }

    Task Continue(DeliveryTicket ticket, ReceiveContext context, IPipe<ReceiveContext> next)
    {
        Task inner;
        try
        {
            inner = next.Send(context);
        }
        catch (Exception exception)
        {
            inner = Task.FromException(exception);
        }

        if (inner.IsCompleted)
        {
            dispatcher.ReceiveDone(ticket);
            return inner;
        }
        if (dispatcher.UsesGate)
            return dispatcher.CompleteThroughGate(inner, ticket);
        return ReceiveDoneWhenDone(inner, ticket);
    }

    async Task ReceiveDoneWhenDone(Task inner, DeliveryTicket ticket)
    {
        try
        {
            await inner.ConfigureAwait(false);
        }
        finally
        {
            dispatcher.ReceiveDone(ticket);
        }
    }

    public void Probe(ProbeContext context)
    {
        var scope = context.CreateFilterScope("threadDelegateDeliveryOrder");
        scope.Add("workers", dispatcher.Options.Workers);
    }
}
