namespace MassTransit.Patterns.ThreadDelegate;

using DeliveryTicket = ThreadDelegateDispatcher.DeliveryTicket;

/// <summary>
/// First filter of the receive pipe: gives each delivery its position in the transport's delivery
/// order before MassTransit's concurrent dispatch can reorder it, and skips the position of a delivery
/// that never reaches the lanes (a message that fails to deserialize, say).
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

    /// <summary>A delivery parked by the in-memory startup settle: it goes on once it has its position.</summary>
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
            dispatcher.Settle(ticket);
            return inner;
        }
        if (dispatcher.UsesGate)
            return dispatcher.CompleteThroughGate(inner, ticket);
        return Volatile.Read(ref ticket.State) == 0 ? SettleWhenDone(inner, ticket) : inner;
    }

    async Task SettleWhenDone(Task inner, DeliveryTicket ticket)
    {
        try
        {
            await inner.ConfigureAwait(false);
        }
        finally
        {
            dispatcher.Settle(ticket);
        }
    }

    public void Probe(ProbeContext context)
    {
        var scope = context.CreateFilterScope("threadDelegateDeliveryOrder");
        scope.Add("workers", dispatcher.Options.Workers);
    }
}

/// <summary>
/// The lane filter, before MassTransit's message type router: reads the message's key, admits the
/// message to its key's lane in delivery order, waits for its turn, and runs the rest of the consume
/// pipe (retry included) there. It completes only when the message is processed, so the transport's
/// acknowledgement follows processing.
/// </summary>
sealed class ThreadDelegateFilter(ThreadDelegateDispatcher dispatcher) : IFilter<ConsumeContext>
{
    readonly ThreadDelegateKeySelector[] _selectors = [.. dispatcher.Options.Keys];
    readonly MissingKeyBehavior _missingKey = dispatcher.Options.MissingKey;
    readonly string _defaultKey = dispatcher.Options.DefaultKey;

    public Task Send(ConsumeContext context, IPipe<ConsumeContext> next)
    {
        string? key = null;
        ThreadDelegateKeySelector? matched = null;
        try
        {
            foreach (var selector in _selectors)
                if (selector.TryGetKey(context, out key))
                {
                    matched = selector;
                    break;
                }
        }
        catch
        {
            dispatcher.SettleFromConsume(context);
            throw;
        }

        if (matched is null)
        {
            // A message type the thread delegate does not order: it runs as it comes.
            dispatcher.SettleFromConsume(context);
            return next.Send(context);
        }

        if (string.IsNullOrEmpty(key))
        {
            if (_missingKey == MissingKeyBehavior.Fault)
            {
                dispatcher.SettleFromConsume(context);
                return Task.FromException(new ThreadDelegateKeyMissingException(matched.MessageType, context.MessageId));
            }
            key = _defaultKey;
        }

        var ticket = dispatcher.Arrive(context, key);
        if (!ticket.Started)
            return Run(ticket, context, next, waitForTurn: true, yieldFirst: false);
        // Under the in-memory gate nothing of the message itself may run inline.
        return Run(ticket, context, next, waitForTurn: false, yieldFirst: dispatcher.IsGateHolder);
    }

    async Task Run(DeliveryTicket ticket, ConsumeContext context, IPipe<ConsumeContext> next, bool waitForTurn, bool yieldFirst)
    {
        if (waitForTurn)
            await ticket.Turn!.Task.ConfigureAwait(false);
        else if (yieldFirst)
            await Task.Yield();

        var failed = false;
        try
        {
            if (dispatcher.Starting(ticket) is { } held)
                throw new ThreadDelegateKeyHeldException(held.Key, held.FailedMessageId, context.MessageId);
            try
            {
                await next.Send(context).ConfigureAwait(false);
            }
            catch (Exception exception) when (!(exception is OperationCanceledException && context.CancellationToken.IsCancellationRequested))
            {
                failed = true;
                throw;
            }
        }
        finally
        {
            dispatcher.Finish(ticket, failed, context.MessageId);
        }
    }

    public void Probe(ProbeContext context)
    {
        var scope = context.CreateFilterScope("threadDelegate");
        scope.Add("workers", dispatcher.Options.Workers);
        scope.Add("allocation", dispatcher.Options.Allocation.ToString());
        scope.Add("keys", string.Join(",", _selectors.Select(s => s.MessageType.Name)));
    }
}
