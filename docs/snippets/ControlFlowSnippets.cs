using MassTransit;
using MassTransit.Patterns.ControlFlow;   // SlowAction
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Docs.Snippets;

public static class ControlFlowSnippets
{
    public static void TurnItOn(IServiceCollection services, IConfiguration configuration, IBusRegistrationConfigurator x)
    {
        // begin-snippet: control-flow-turn-it-on
        // the consuming service: watch the queue
        services.AddRabbitMqQueueDepthProbe(o => configuration.Bind("Probe", o));
        services.AddQueueDepthMonitor(o => o.PollInterval = TimeSpan.FromMilliseconds(250));
        services.AddFlowMonitor(o => o.Watch("orders", highWatermark: 10_000, lowWatermark: 5_000).Consumes<OrderPlaced>());

        // a producing service: learn the states (a temporary instance endpoint) and obey them
        x.AddProducerControlFlow();
        x.UsingRabbitMq((context, cfg) =>
        {
            cfg.UseProducerControlFlow(context, o => { o.WhenSlow = SlowAction.RateLimit; o.SlowRatePerSecond = 200; });
            cfg.ConfigureEndpoints(context);
        });
        // end-snippet
    }

    public static void HardLimit(IRabbitMqBusFactoryConfigurator cfg, IRegistrationContext context)
    {
        // begin-snippet: control-flow-hard-limit
        cfg.ReceiveEndpoint("orders", e =>
        {
            e.SetQueueHardLimit(50_000);    // x-max-length with x-overflow: reject-publish; producers send to exchange:orders
            e.ConfigureConsumer<PlaceOrderConsumer>(context);
        });
        // end-snippet
    }

    public static void Readme(IServiceCollection services, IBusRegistrationConfigurator x)
    {
        // begin-snippet: readme-control-flow
        services.AddFlowMonitor(o => o.Watch("orders", highWatermark: 10_000, lowWatermark: 5_000));   // where the queue is consumed
        x.AddProducerControlFlow();                                                                      // where it is produced
        x.UsingRabbitMq((context, cfg) => cfg.UseProducerControlFlow(context, o => o.WhenSlow = SlowAction.RateLimit));
        // end-snippet
    }
}
