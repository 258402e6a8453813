namespace MassTransit.Patterns.ThreadDelegate;

using DeliveryTicket = ThreadDelegateDispatcher.DeliveryTicket;

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
        if (Volatile.Read(ref ticket.State) == ThreadDelegateDispatcher.ReturnedState)
            return Task.FromException(ThreadDelegateDispatcher.Return(context));
        if (!ticket.Started)
            return Run(ticket, context, next, waitForTurn: true, yieldFirst: false);
        // Under the in-memory gate nothing of the message itself may run inline.
        return Run(ticket, context, next, waitForTurn: false, yieldFirst: dispatcher.IsGateHolder);
    }

    async Task Run(DeliveryTicket ticket, ConsumeContext context, IPipe<ConsumeContext> next, bool waitForTurn, bool yieldFirst)
    {
        if (waitForTurn)
        {
            if (!await ticket.Turn!.Task.ConfigureAwait(false))
                throw ThreadDelegateDispatcher.Return(context); // never admitted: no lane to leave
        }
        else if (yieldFirst)
            await Task.Yield();

        var failed = false;
        var held = false;
        try
        {
            if (dispatcher.Starting(ticket) is { } heldBy)
            {
                held = true; // moved to the error queue like a failed message: the key's next message waits until it is there
                throw new ThreadDelegateKeyHeldException(heldBy.Key, heldBy.FailedMessageId, context.MessageId);
            }
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
            dispatcher.Finished(ticket, failed, toErrorQueue: failed || held, context.MessageId);
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
