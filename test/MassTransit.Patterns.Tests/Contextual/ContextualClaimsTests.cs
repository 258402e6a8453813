using MassTransit.Patterns.Tests.Contextual.Messages;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Tests.Contextual;

/// <summary>
/// Contextual queues set their queues' concurrency after the user's endpoint callback: a supervisor or a thread delegate
/// put there would have its limit silently overwritten, so the start fails naming both instead.
/// </summary>
public sealed class ContextualClaimsTests
{
    static async Task<Exception?> StartAsync(Action<IRegistrationContext, IReceiveEndpointConfigurator> inEndpoint)
    {
        var queue = $"ctx-claim-{Guid.NewGuid():N}"[..19];
        await using var provider = new ServiceCollection()
            .AddMetrics()
            .AddSingleton<OrderRecorder>()
            .AddInMemoryQueueDepthProbe()
            .AddConsumerSupervisorRegistry()
            .AddMassTransitTestHarness(x =>
            {
                x.AddContextualQueues<CustomerOrder>();
                x.AddConsumer<CustomerOrderConsumer>().ExcludeFromConfigureEndpoints();
                x.UsingInMemory((context, cfg) =>
                {
                    cfg.UseContextualQueues<CustomerOrder>(context, q => q.DefaultQueue(queue).Context(m => m.Customer)
                        .Endpoint(e =>
                        {
                            inEndpoint(context, e);
                            e.ConfigureConsumer<CustomerOrderConsumer>(context);
                        }));
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
            return e;
        }
        await harness.Stop();
        return null;
    }

    [Fact]
    public async Task A_supervisor_on_the_contextual_queues_fails_the_start_naming_both()
    {
        var failure = await StartAsync((context, e) => e.UseSupervisor(context, o => o.MaxConsumers = 4));

        var configuration = Assert.IsType<ConfigurationException>(failure, exactMatch: false);
        Assert.Contains("UseContextualQueues", configuration.Message);
        Assert.Contains("UseSupervisor", configuration.Message);
        Assert.Contains("DefaultConcurrentMessageLimit", configuration.Message);
    }

    [Fact]
    public async Task A_thread_delegate_on_the_contextual_queues_fails_the_start_naming_both()
    {
        var failure = await StartAsync((context, e) => e.UseThreadDelegate<CustomerOrder>(context, m => m.Customer));

        var configuration = Assert.IsType<ConfigurationException>(failure, exactMatch: false);
        Assert.Contains("UseContextualQueues", configuration.Message);
        Assert.Contains("UseThreadDelegate", configuration.Message);
    }

    [Fact]
    public async Task A_consumer_alone_on_the_contextual_queues_starts() =>
        Assert.Null(await StartAsync((_, _) => { }));
}
