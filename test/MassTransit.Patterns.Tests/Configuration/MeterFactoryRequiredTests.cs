using MassTransit.Patterns.Tests.Messages;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Tests.Configuration;

/// <summary>
/// The patterns record on the container's IMeterFactory. A bare ServiceCollection without AddMetrics, using a pattern
/// that has no AddXxx of its own, fails the bus start saying what to add (docs/README.md, Diagnostics); with AddMetrics it
/// starts.
/// </summary>
public sealed class MeterFactoryRequiredTests
{
    public sealed class WorkConsumer : IConsumer<WorkItem>
    {
        public Task Consume(ConsumeContext<WorkItem> context) => Task.CompletedTask;
    }

    static async Task<Exception?> StartAsync(bool addMetrics)
    {
        var services = new ServiceCollection();
        if (addMetrics)
            services.AddMetrics();
        await using var provider = services
            .AddMassTransitTestHarness(x =>
            {
                x.AddConsumer<WorkConsumer>().Endpoint(e => e.Name = $"meter-{Guid.NewGuid():N}");
                x.UsingInMemory((context, cfg) =>
                {
                    cfg.UseAmbulanceLane(context, a => a.Endpoint<WorkConsumer>());
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
    public async Task Without_AddMetrics_the_start_fails_naming_it()
    {
        var failure = await StartAsync(addMetrics: false);

        Assert.NotNull(failure);
        Assert.Contains("services.AddMetrics()", failure.ToString());
        Assert.Contains("IMeterFactory", failure.ToString());
    }

    [Fact]
    public async Task With_AddMetrics_it_starts() => Assert.Null(await StartAsync(addMetrics: true));
}
