using MassTransit;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Docs.Snippets;

public static class SupervisorSnippets
{
    public static void TurnItOn(IServiceCollection services, IReceiveEndpointConfigurator endpointConfigurator, IRegistrationContext context)
    {
        // begin-snippet: supervisor-turn-it-on
        services.AddRabbitMqQueueDepthProbe(o => o.HostName = "localhost");   // or AddInMemoryQueueDepthProbe()
        // in a consumer definition's ConfigureConsumer, or an AddConfigureEndpointsCallback:
        endpointConfigurator.UseSupervisor(context, o => { o.MinConsumers = 2; o.MaxConsumers = 32; });
        // end-snippet
    }

    public static void Fleet(IBusRegistrationConfigurator x, IReceiveEndpointConfigurator e, IRegistrationContext context)
    {
        // begin-snippet: supervisor-fleet
        // every instance: heartbeats to the supervisor saga, runs the share it is answered
        e.UseSupervisor(context, o => { o.MinConsumers = 2; o.MaxConsumers = 32; o.UseFleet(); });
        // the saga, one instance per queue, in a database the fleet shares
        // (AppDb.OnModelCreating: modelBuilder.AddSagaInstance<ConsumerSupervisorState>())
        x.AddConsumerSupervisorSaga()
            .PatternsEntityFrameworkRepository(r => r.ExistingDbContext<AppDb>());
        // end-snippet
    }

    public static void Readme(IBusRegistrationConfigurator x)
    {
        // begin-snippet: readme-supervisor
        x.AddConfigureEndpointsCallback((context, name, e) =>
        {
            if (name == "orders")
                e.UseSupervisor(context, o => { o.MinConsumers = 2; o.MaxConsumers = 32; });   // follows the queue's depth
        });
        // end-snippet
    }
}
