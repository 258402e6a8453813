using MassTransit;
using MassTransit.Patterns.EventForwarding;   // IEventForwarder, the producer injects it
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Docs.Snippets;

public static class EventForwardingSnippets
{
    public static void TurnItOn(IServiceCollection services, string cs)
    {
        // begin-snippet: event-forwarding-turn-it-on
        services.AddDbContext<AppDb>(o => o.UseNpgsql(cs));        // AppDb.OnModelCreating: modelBuilder.AddEventForwardingEntities();
        services.AddMassTransit(x =>
        {
            x.AddEventForwarding(o => o.SendTimeout = TimeSpan.FromSeconds(5));   // producer: IEventForwarder
            x.AddPatternsEntityFrameworkOutbox<AppDb>();                            // inbox, outbox, delivery, clean-up
            x.AddConfigureEndpointsCallback((ctx, _, e) =>
            {
                e.UseMessageRetry(r => r.Interval(60, TimeSpan.FromMilliseconds(500)));   // rides out a 30 s database outage
                e.UsePatternsEntityFrameworkOutbox<AppDb>(ctx);
            });
            x.AddConsumer<PlaceOrderConsumer>();
            x.UsingRabbitMq((ctx, cfg) =>
            {
                cfg.Host(new Uri("rabbitmq://localhost/"));
                cfg.UseEventForwarding(ctx);       // the no-loss settings, checked at start (before ConfigureEndpoints)
                cfg.ConfigureEndpoints(ctx);
            });
        });
        // end-snippet
    }

    public static void Batching(IBusRegistrationConfigurator x)
    {
        // begin-snippet: event-forwarding-batching
        x.AddConsumer<PlaceOrderConsumer>().Endpoint(e => e.ConcurrentMessageLimit = 16);
        x.AddConfigureEndpointsCallback((ctx, _, e) =>
        {
            e.UseMessageRetry(r => r.Interval(60, TimeSpan.FromMilliseconds(500)));
            e.UsePatternsEntityFrameworkOutbox<AppDb>(ctx, o => o.Batching(b =>
            {
                b.MaxBatchSize = 8;             // messages per transaction (2-64)
                b.MaxConcurrentBatches = 2;     // one batch forms while the other commits
            }));
        });
        // end-snippet
    }

    public static async Task Produce(IServiceProvider provider, PlaceOrder order, AppDb db, OrderPlaced evt)
    {
        // begin-snippet: event-forwarding-produce
        // producer: returns once the broker confirmed, resent under the same message id until then
        var forwarder = provider.GetRequiredService<IEventForwarder>();
        await forwarder.Send(new Uri("exchange:orders"), order);

        // API handler: the event commits with the row (an outbox row in the same transaction)
        var publishEndpoint = provider.GetRequiredService<IPublishEndpoint>();
        db.Add(new Order { Id = evt.OrderId, CustomerId = evt.CustomerId });
        await publishEndpoint.Publish(evt);
        await db.SaveChangesAsync();
        // end-snippet
    }

    public static void Readme(IBusRegistrationConfigurator x)
    {
        // begin-snippet: readme-event-forwarding
        x.AddEventForwarding();                          // producers: IEventForwarder, confirmed sends under one id
        x.AddPatternsEntityFrameworkOutbox<AppDb>();     // consumers: inbox and outbox in AppDb's transaction
        x.AddConfigureEndpointsCallback((ctx, _, e) => e.UsePatternsEntityFrameworkOutbox<AppDb>(ctx));
        x.UsingRabbitMq((ctx, cfg) =>
        {
            cfg.UseEventForwarding(ctx);                 // refuses to start with settings that lose messages
            cfg.ConfigureEndpoints(ctx);
        });
        // end-snippet
    }
}
