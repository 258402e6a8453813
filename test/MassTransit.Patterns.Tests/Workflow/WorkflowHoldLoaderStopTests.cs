using System.Diagnostics;
using MassTransit.Patterns.Workflow;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Tests.Workflow;

/// <summary>
/// The hold loader's load of the held keys belongs to the bus that started it: stopping the bus ends it (the
/// registry is ready when the stop returns), instead of leaving it running, unobserved, until its timeout.
/// </summary>
public sealed class WorkflowHoldLoaderStopTests
{
    [Fact]
    public async Task Stopping_the_bus_ends_a_load_still_waiting_for_the_processor()
    {
        var loadTimeout = TimeSpan.FromSeconds(60);
        var services = new ServiceCollection();
        services.AddMassTransitTestHarness(x =>
        {
            // Nobody answers at this address: the load waits for its response until the timeout.
            x.AddWorkflowEventHoldByKey(o =>
            {
                o.ProcessorAddress = new Uri("queue:workflow-hold-loader-stop-nobody");
                o.LoadTimeout = loadTimeout;
            });
            x.UsingInMemory((context, cfg) => cfg.ConfigureEndpoints(context));
        });
        await using var provider = services.BuildServiceProvider(true);
        var registry = provider.GetRequiredService<WorkflowHoldRegistry>();
        var harness = provider.GetRequiredService<ITestHarness>();

        await harness.Start();
        Assert.False(registry.Ready.IsCompleted, "the load should still be waiting for the processor's answer");

        var stopping = Stopwatch.StartNew();
        await harness.Stop();
        stopping.Stop();

        Assert.True(registry.Ready.IsCompleted, "the load was still running after the bus stopped");
        Assert.True(stopping.Elapsed < loadTimeout / 2, $"the stop waited {stopping.Elapsed} for the load");
    }
}
