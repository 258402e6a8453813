using MassTransit;

namespace MassTransit.Patterns.Docs.Snippets;

public static class ThreadDelegateSnippets
{
    public static void TurnItOn(IRabbitMqReceiveEndpointConfigurator e, IRegistrationContext context)
    {
        // begin-snippet: thread-delegate-turn-it-on
        // RabbitMQ: the overload on a RabbitMQ receive endpoint orders by delivery tag (o.UseRabbitMqDeliveryOrder()).
        e.UseThreadDelegate<Deposit>(context, m => m.AccountId, o => o.Workers = 16);
        // end-snippet
    }

    public static void InADefinition(IReceiveEndpointConfigurator e, IRegistrationContext context)
    {
        // begin-snippet: thread-delegate-delivery-order
        // where the endpoint is typed IReceiveEndpointConfigurator (a consumer definition, AddConfigureEndpointsCallback)
        e.UseThreadDelegate<Deposit>(context, m => m.AccountId, o => { o.Workers = 16; o.UseRabbitMqDeliveryOrder(); });
        // end-snippet
    }

    public static void Stripes(IRabbitMqBusFactoryConfigurator cfg, IRegistrationContext ctx)
    {
        // begin-snippet: thread-delegate-stripes
        // several service instances on RabbitMQ: one single-active-consumer queue per stripe
        cfg.UseThreadDelegateStripeRouting<Deposit>(8, m => m.AccountId);                     // producers
        cfg.ThreadDelegateStripeEndpoints<Deposit>(ctx, "deposits", 8, m => m.AccountId,
            (e, i) => e.ConfigureConsumer<DepositConsumer>(ctx));                              // every instance
        // end-snippet
    }
}
