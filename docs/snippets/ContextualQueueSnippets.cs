using MassTransit;
using MassTransit.Patterns.RabbitMQ.QueueDepth;   // RabbitMqProbeOptions, the broker settings

namespace MassTransit.Patterns.Docs.Snippets;

public static class ContextualQueueSnippets
{
    public static void TurnItOn(IInMemoryBusFactoryConfigurator cfg, IRegistrationContext context)
    {
        // begin-snippet: contextual-turn-it-on
        cfg.UseContextualQueues<PlaceOrder>(context, x => x.DefaultQueue("orders").Context(m => m.CustomerId)
            .Endpoint(e => e.ConfigureConsumer<PlaceOrderConsumer>(context)));   // producers send to the router address (orders.router)
        // end-snippet
    }

    public static void OnRabbitMq(IRabbitMqBusFactoryConfigurator cfg, IRegistrationContext context)
    {
        // begin-snippet: contextual-rabbitmq
        // an AMQP connection of its own for run-time bindings, depth checks and deletion
        var brokerSettings = new RabbitMqProbeOptions { HostName = "localhost", UserName = "guest", Password = "guest" };
        cfg.UseContextualQueues<PlaceOrder>(context, brokerSettings, x => x.DefaultQueue("orders").Context(m => m.CustomerId)
            .Static("vip")
            .Endpoint(e => e.ConfigureConsumer<PlaceOrderConsumer>(context)));
        // end-snippet
    }
}
