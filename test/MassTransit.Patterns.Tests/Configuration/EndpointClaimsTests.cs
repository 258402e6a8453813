using MassTransit.Patterns.Ambulance;
using MassTransit.Patterns.QueueDepth;
using MassTransit.Patterns.Supervisor;
using MassTransit.Patterns.Tests.Messages;
using MassTransit.Patterns.ThreadDelegate;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Tests.Configuration;

/// <summary>
/// Patterns that take over the same thing on one endpoint refuse to start together, naming both, however they were put
/// there; a pattern called twice on its endpoint, and a supervisor copied onto a lane, do not.
/// </summary>
public sealed class EndpointClaimsTests
{
    const string Queue = "claims";

    public sealed class WorkConsumer : IConsumer<WorkItem>
    {
        public Task Consume(ConsumeContext<WorkItem> context) => Task.CompletedTask;
    }

    static async Task<Exception?> StartAsync(Action<IBusRegistrationConfigurator> register, Action<IBusRegistrationContext, IInMemoryBusFactoryConfigurator> bus)
    {
        await using var provider = new ServiceCollection()
            .AddMetrics()
            .AddInMemoryQueueDepthProbe()
            .AddConsumerSupervisorRegistry()
            .AddMassTransitTestHarness(x =>
            {
                register(x);
                x.UsingInMemory((context, cfg) =>
                {
                    bus(context, cfg);
                    cfg.ConfigureEndpoints(context);
                });
            })
            .BuildServiceProvider(true);
        var harness = provider.GetRequiredService<ITestHarness>();
        try
        {
            await harness.Start();
        }
        catch (Exception e)
        {
            return e; // the bus was not built: nothing to stop
        }
        await harness.Stop();
        return null;
    }

    static void OrderByKey(IRegistrationContext context, IReceiveEndpointConfigurator e) => e.UseThreadDelegate<WorkItem>(context, m => $"{m.Number % 4}");

    [Fact]
    public async Task A_lane_by_consumer_type_beside_a_thread_delegate_fails_the_start_naming_both()
    {
        var failure = await StartAsync(
            x => x.AddConsumer<WorkConsumer>().Endpoint(e =>
            {
                e.Name = Queue;
                e.AddConfigureEndpointCallback((context, cfg) => OrderByKey(context, cfg));
            }),
            (context, cfg) => cfg.UseAmbulanceLane(context, a => a.Endpoint<WorkConsumer>()));

        var configuration = Assert.IsType<ConfigurationException>(failure, exactMatch: false);
        Assert.Contains($"AmbulanceConfigurator.Endpoint<{nameof(WorkConsumer)}>", configuration.Message);
        Assert.Contains("UseThreadDelegate", configuration.Message);
        Assert.Contains($"'{Queue}'", configuration.Message);
    }

    [Fact]
    public async Task A_lane_declared_with_its_endpoint_beside_a_thread_delegate_fails_the_start_naming_both()
    {
        var failure = await StartAsync(
            x => x.AddConsumer<WorkConsumer>().ExcludeFromConfigureEndpoints(),
            (context, cfg) => cfg.UseAmbulanceLane(context, a => a.ReceiveEndpoint(Queue, e =>
            {
                OrderByKey(context, e);
                e.ConfigureConsumer<WorkConsumer>(context);
            })));

        var configuration = Assert.IsType<ConfigurationException>(failure, exactMatch: false);
        Assert.Contains($"AmbulanceConfigurator.ReceiveEndpoint(\"{Queue}\")", configuration.Message);
        Assert.Contains("UseThreadDelegate", configuration.Message);
    }

    [Fact]
    public async Task The_thread_delegate_called_twice_on_its_endpoint_starts()
    {
        var failure = await StartAsync(
            x => x.AddConsumer<WorkConsumer>().Endpoint(e =>
            {
                e.Name = Queue;
                e.AddConfigureEndpointCallback((context, cfg) =>
                {
                    OrderByKey(context, cfg);
                    cfg.UseThreadDelegate(context, o => o.Workers = 2);
                });
            }),
            (_, _) => { });

        Assert.Null(failure);
    }

    [Fact]
    public async Task A_supervisor_in_the_queue_configuration_supervises_the_queue_and_steps_aside_on_its_lane()
    {
        await using var provider = new ServiceCollection()
            .AddMetrics()
            .AddInMemoryQueueDepthProbe()
            .AddConsumerSupervisorRegistry()
            .AddMassTransitTestHarness(x =>
            {
                x.AddConsumer<WorkConsumer>().Endpoint(e => e.Name = Queue);
                x.AddConfigureEndpointsCallback((context, name, cfg) =>
                {
                    if (name == Queue)
                        cfg.UseSupervisor(context, o => o.MaxConsumers = 4);
                });
                x.UsingInMemory((context, cfg) =>
                {
                    cfg.UseAmbulanceLane(context, a => a.Endpoint(Queue));
                    cfg.ConfigureEndpoints(context);
                });
            })
            .BuildServiceProvider(true);
        var harness = provider.GetRequiredService<ITestHarness>();
        await harness.Start();
        try
        {
            var registry = provider.GetRequiredService<ConsumerSupervisorRegistry>();
            Assert.True(registry.TryGet(Queue, out _), "the queue is supervised");
            Assert.False(registry.TryGet(Queue + AmbulanceLaneOptions.DefaultSuffix, out _), "the lane keeps its own concurrency");
        }
        finally
        {
            await harness.Stop();
        }
    }
}
