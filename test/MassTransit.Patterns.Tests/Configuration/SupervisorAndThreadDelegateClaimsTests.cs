using MassTransit.Patterns.QueueDepth;
using MassTransit.Patterns.Tests.Messages;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Tests.Configuration;

/// <summary>
/// The supervisor and the thread delegate both own an endpoint's concurrent message limit and prefetch: on one in-memory
/// endpoint, in either order, the bus start fails naming both and the endpoint (the bus is never built, so nothing is consumed).
/// </summary>
public sealed class SupervisorAndThreadDelegateClaimsTests
{
    const string Queue = "claims-supervisor-thread-delegate";

    public sealed class WorkConsumer : IConsumer<WorkItem>
    {
        public Task Consume(ConsumeContext<WorkItem> context) => Task.CompletedTask;
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Supervisor_and_thread_delegate_on_one_in_memory_endpoint_fail_the_start_naming_both(bool supervisorFirst)
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
                    if (name != Queue)
                        return;
                    if (supervisorFirst)
                        cfg.UseSupervisor(context, o => o.MaxConsumers = 4);
                    cfg.UseThreadDelegate<WorkItem>(context, m => $"{m.Number % 4}");
                    if (!supervisorFirst)
                        cfg.UseSupervisor(context, o => o.MaxConsumers = 4);
                });
                x.UsingInMemory((context, cfg) => cfg.ConfigureEndpoints(context));
            })
            .BuildServiceProvider(true);
        var harness = provider.GetRequiredService<ITestHarness>();

        var failure = await Record.ExceptionAsync(() => harness.Start());

        var configuration = Assert.IsType<ConfigurationException>(failure, exactMatch: false);
        Assert.Contains("UseSupervisor", configuration.Message);
        Assert.Contains("UseThreadDelegate", configuration.Message);
        Assert.Contains($"'{Queue}'", configuration.Message);
    }
}
