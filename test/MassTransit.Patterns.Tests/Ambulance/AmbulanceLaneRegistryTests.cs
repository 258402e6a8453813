using MassTransit.Patterns.Ambulance;
using MassTransit.Patterns.Testing;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Tests.Ambulance;

/// <summary>The lanes' public read (the dashboard's ambulance page): filled by UseAmbulanceLane, urgent-wait percentiles from a bounded ring.</summary>
public sealed class AmbulanceLaneRegistryTests
{
    public record Pick(int Number, bool Express);

    sealed class PickConsumer : IConsumer<Pick>
    {
        public Task Consume(ConsumeContext<Pick> context) => Task.CompletedTask;
    }

    [Fact]
    public void The_reservoir_gives_nearest_rank_percentiles_of_the_waits_within_the_window()
    {
        var reservoir = new UrgentWaitReservoir(capacity: 200);
        for (var i = 1; i <= 100; i++)
            reservoir.Record(i, atMs: 10_000 + i);
        // Ten older ones, outside a 1 s window ending at 10 100.
        for (var i = 0; i < 10; i++)
            reservoir.Record(5_000, atMs: 8_000);

        var within = reservoir.Within(TimeSpan.FromSeconds(1), nowMs: 10_100);
        Assert.Equal(100, within.Length);
        Assert.Equal(50, UrgentWaitReservoir.Percentile(within, 0.5));
        Assert.Equal(99, UrgentWaitReservoir.Percentile(within, 0.99));
        Assert.Equal(110, reservoir.Within(TimeSpan.FromSeconds(10), nowMs: 10_100).Length);
        Assert.Null(UrgentWaitReservoir.Percentile([], 0.5));
    }

    [Fact]
    public void The_reservoir_keeps_only_its_capacity_the_latest()
    {
        var reservoir = new UrgentWaitReservoir(capacity: 4);
        for (var i = 1; i <= 10; i++)
            reservoir.Record(i, atMs: 1_000);
        Assert.Equal([7d, 8d, 9d, 10d], reservoir.Within(TimeSpan.FromSeconds(1), nowMs: 1_000));
    }

    [Fact]
    public async Task UseAmbulanceLane_adds_each_lane_to_the_registered_registry_with_its_budget_and_urgent_waits()
    {
        await using var provider = new ServiceCollection()
            .AddMetrics()
            .AddAmbulanceLaneRegistry()
            .AddMassTransitTestHarness(x =>
            {
                x.AddConsumer<PickConsumer>().Endpoint(e =>
                {
                    e.Name = "picks";
                    e.ConcurrentMessageLimit = 3;
                });
                x.UsingInMemory((context, cfg) =>
                {
                    cfg.UseAmbulanceLane(context, a =>
                    {
                        a.Urgent<Pick>(p => p.Express);
                        a.Endpoint("picks", lane =>
                        {
                            lane.Mode = AmbulanceMode.Carpool;
                            lane.ConcurrentMessageLimit = 2;
                        });
                    });
                    cfg.ConfigureEndpoints(context);
                });
            })
            .BuildServiceProvider(true);
        var harness = provider.GetRequiredService<ITestHarness>();
        await harness.Start();
        var registry = provider.GetRequiredService<AmbulanceLaneRegistry>();

        var endpoint = await harness.Bus.GetSendEndpoint(new Uri("exchange:picks"));
        for (var i = 0; i < 6; i++)
            await endpoint.Send(new Pick(i, Express: i % 2 == 0));
        await Eventually.True(async () => (await harness.Consumed.Now<Pick>()).Count == 6, TimeSpan.FromSeconds(10), "the six picks are consumed");
        await Eventually.True(() => registry.Snapshot().Single().SlotsInUse == 0, TimeSpan.FromSeconds(10), "every slot is freed");

        var lane = registry.Snapshot().Single();
        Assert.Equal(("picks", "picks_lane", AmbulanceMode.Carpool), (lane.Queue, lane.Lane, lane.Mode));
        Assert.Equal((3, 2, 5), (lane.QueueSlots, lane.LaneSlots, lane.SlotBudget));
        Assert.Equal(0, lane.LaneDepth);
        // Three express picks went through the lane: three urgent waits, the percentiles among them.
        Assert.Equal(3, lane.UrgentWaitSamples);
        Assert.NotNull(lane.UrgentWaitP50Ms);
        Assert.True(lane.UrgentWaitP99Ms >= lane.UrgentWaitP50Ms);
        Assert.Equal(AmbulanceLaneRegistry.DefaultWindow, lane.Window);
        Assert.Equal(6, (await harness.Consumed.Settled<Pick>()).Select(m => m.Context.Message.Number).Distinct().Count());
    }
}
