using MassTransit;
using MassTransit.Patterns.Multibroker;   // IMultibroker, MultibrokerStrategy
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Docs.Snippets;

public static class MultibrokerSnippets
{
    public static async Task TurnItOn(IServiceCollection services, string u, string p, IServiceProvider provider, PlaceOrder order)
    {
        // begin-snippet: multibroker-turn-it-on
        services.AddMultibroker(x =>
        {
            x.Register(r => r.AddConsumer<OrderConsumer>());                  // registered once, configured on every broker's bus
            x.RabbitMqBroker("a", new Uri("rabbitmq://mq-a/"), h => { h.Username(u); h.Password(p); });
            x.RabbitMqBroker("b", new Uri("rabbitmq://mq-b/"), h => { h.Username(u); h.Password(p); }, weight: 2);
            x.Strategy(MultibrokerStrategy.KeyHash).Key<PlaceOrder>(m => m.CustomerId);
        });
        // IMultibroker is an ISendEndpointProvider and IPublishEndpoint; use short addresses (queue:/exchange:)
        var multibroker = provider.GetRequiredService<IMultibroker>();
        await (await multibroker.GetSendEndpoint(new Uri("exchange:orders"))).Send(order);
        var confirmedBy = await multibroker.SendAsync(new Uri("exchange:orders"), order, key: "customer-42");   // explicit key, returns the broker
        // end-snippet
    }

    public static void Readme(IServiceCollection services)
    {
        // begin-snippet: readme-multibroker
        services.AddMultibroker(x =>
        {
            x.Register(r => r.AddConsumer<OrderConsumer>());
            x.RabbitMqBroker("a", new Uri("rabbitmq://mq-a/"));
            x.RabbitMqBroker("b", new Uri("rabbitmq://mq-b/"));
        });   // send through IMultibroker: each message to one broker, confirmed, failed over under its id
        // end-snippet
    }
}
