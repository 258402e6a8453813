using MassTransit;
using MassTransit.Patterns.Contextual;            // ContextualRouting<T>, the live routing a producer reads
using MassTransit.Patterns.RabbitMQ.QueueDepth;   // RabbitMqProbeOptions, the broker settings
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Docs.Snippets;

public static class ContextualQueueSnippets
{
    public static async Task TurnItOn(IServiceCollection services, IServiceProvider provider, PlaceOrder order)
    {
        // begin-snippet: contextual-turn-it-on
        services.AddMassTransit(x =>
        {
            x.AddContextualQueues<PlaceOrder>();            // the ContextualRouting<PlaceOrder> singleton
            x.AddConsumer<PlaceOrderConsumer>();
            x.UsingInMemory((context, cfg) =>
                cfg.UseContextualQueues<PlaceOrder>(context, c => c.DefaultQueue("orders").Context(m => m.CustomerId)
                    .Endpoint(e => e.ConfigureConsumer<PlaceOrderConsumer>(context))));
        });

        // producers send to the router address (orders.router)
        var routing = provider.GetRequiredService<ContextualRouting<PlaceOrder>>();
        var bus = provider.GetRequiredService<IBus>();
        await (await bus.GetSendEndpoint(routing.RouterAddress)).Send(order);
        // end-snippet
    }

    public static void Readme(IInMemoryBusFactoryConfigurator cfg, IRegistrationContext context)
    {
        // begin-snippet: readme-contextual
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
