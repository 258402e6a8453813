using MassTransit.Transports;
using MassTransit.Configuration;
namespace MassTransit.Patterns.Contextual;

/// <summary>On the default queue: notices contexts that have no queue yet and has it created; the message itself is consumed here.</summary>
sealed class DefaultQueueFilter(ContextualRouting routing) : IFilter<ConsumeContext>
{
    public async Task Send(ConsumeContext context, IPipe<ConsumeContext> next)
    {
        if (routing.Extract(context) is { } message)
            routing.Seen(message);
        try
        {
            await next.Send(context).ConfigureAwait(false);
        }
        finally
        {
            routing.DefaultConsumedOne();
            ContextualMetrics.Consumed(routing.Options.DefaultQueueName, routing.Options.DefaultQueueName);
        }
    }

    public void Probe(ProbeContext context) => context.CreateFilterScope("contextualDefaultQueue");
}

/// <summary>On a context or bucket queue: records activity (for idle retirement and draining), counts messages, and notices contexts sharing a key.</summary>
sealed class ContextQueueActivityFilter(ContextQueue queue, ContextualRouting routing) : IFilter<ConsumeContext>
{
    public async Task Send(ConsumeContext context, IPipe<ConsumeContext> next)
    {
        Interlocked.Increment(ref queue.InFlight);
        queue.Touch();
        if (routing.Extract(context) is { } message)
            routing.Consumed(message, queue);
        try
        {
            await next.Send(context).ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Increment(ref queue.Completed);
            queue.Touch();
            Interlocked.Decrement(ref queue.InFlight);
            ContextualMetrics.Consumed(routing.Options.DefaultQueueName, queue.Name);
        }
    }

    public void Probe(ProbeContext context) => context.CreateFilterScope("contextualQueue");
}

/// <summary>Send side: a routed message sent to the routing exchange gets its context's routing key.</summary>
sealed class ContextualSendFilter<TMessage>(ContextualRouting routing) : IFilter<SendContext<TMessage>>
    where TMessage : class
{
    readonly string _router = routing.Options.EffectiveRouterExchangeName;

    public Task Send(SendContext<TMessage> context, IPipe<SendContext<TMessage>> next)
    {
        if (context.DestinationAddress is { } destination && string.Equals(destination.GetEndpointName(), _router, StringComparison.Ordinal))
        {
            var (key, counted) = routing.Route(context.Message);
            context.SetRoutingKey(key);
            context.Headers.Set(ContextualRouting.ContextHeader, key);
            if (counted is not null)
                context.GetOrAddPayload(() => new RoutedPayload(counted));
        }
        return next.Send(context);
    }

    public void Probe(ProbeContext context) => context.CreateFilterScope("contextualSend");
}

/// <summary>Marks a send counted against an in-memory context queue until it is delivered.</summary>
sealed class RoutedPayload(ContextQueue queue)
{
    int _settled;

    public void Settle(bool delivered)
    {
        if (Interlocked.Exchange(ref _settled, 1) != 0)
            return;
        if (delivered)
            Interlocked.Increment(ref queue.Routed);
        Interlocked.Decrement(ref queue.PendingSends);
    }
}

/// <summary>Settles in-memory routed sends after delivery (or failure), so retirement knows what is on its way.</summary>
sealed class ContextualSendObserver : ISendObserver
{
    public Task PreSend<T>(SendContext<T> context) where T : class => Task.CompletedTask;

    public Task PostSend<T>(SendContext<T> context) where T : class
    {
        if (context.TryGetPayload<RoutedPayload>(out var routed))
            routed.Settle(true);
        return Task.CompletedTask;
    }

    public Task SendFault<T>(SendContext<T> context, Exception exception) where T : class
    {
        if (context.TryGetPayload<RoutedPayload>(out var routed))
            routed.Settle(false);
        return Task.CompletedTask;
    }
}

/// <summary>Adds the send filter to the routed message type's send pipe.</summary>
sealed class ContextualSendSpecificationObserver<TMessage>(ContextualRouting routing) : ISendPipeSpecificationObserver
    where TMessage : class
{
    public void MessageSpecificationCreated<T>(IMessageSendPipeSpecification<T> specification)
        where T : class
    {
        if (specification is IMessageSendPipeSpecification<TMessage> typed)
            typed.UseFilter(new ContextualSendFilter<TMessage>(routing));
    }
}
