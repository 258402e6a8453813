using MassTransit.Configuration;
using MassTransit.Transports;

namespace MassTransit.Patterns.Contextual;

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
