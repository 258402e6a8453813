using MassTransit.Patterns.QueueDepth;
using MassTransit.Patterns.Supervisor;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Tests.Supervisor;

/// <summary>
/// One supervised endpoint in fleet mode under the test harness: the fleet saga in memory, the supervisor on
/// <paramref name="queue"/> reading <paramref name="probe"/>, the registry to find it. The in-memory bus can be given
/// more configuration (a filter that hangs a dependency) before its endpoints.
/// </summary>
static class SupervisorFleetHarness
{
    public sealed class Work : IConsumer<Messages.WorkItem>
    {
        public Task Consume(ConsumeContext<Messages.WorkItem> context) => Task.CompletedTask;
    }

    public static ServiceProvider Build(string queue, IQueueDepthProbe probe, Action<SupervisorOptions> supervisor,
        Action<IInMemoryBusFactoryConfigurator>? bus = null) =>
        new ServiceCollection()
            .AddSingleton(probe)
            .AddConsumerSupervisorRegistry()
            .AddMassTransitTestHarness(x =>
            {
                x.AddConsumerSupervisorSaga().InMemoryRepository();
                x.AddConsumer<Work>().Endpoint(e => e.Name = queue);
                x.AddConfigureEndpointsCallback((context, name, cfg) =>
                {
                    if (name == queue)
                        cfg.UseSupervisor(context, supervisor);
                });
                x.UsingInMemory((context, cfg) =>
                {
                    bus?.Invoke(cfg);
                    cfg.ConfigureEndpoints(context);
                });
            })
            .BuildServiceProvider(true);
}
