using MassTransit.Patterns.ControlFlow;
using MassTransit.Patterns.ControlFlow.Contracts;
using MassTransit.Patterns.Testing;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Tests.ControlFlow;

/// <summary>What the store counts of the producers per queue (the dashboard's "producers throttled"): each count is the gate's own outcome.</summary>
public sealed class ProducerThrottlingTests
{
    public record Parcel(int Number);

    sealed class ParcelConsumer : IConsumer<Parcel>
    {
        public Task Consume(ConsumeContext<Parcel> context) => Task.CompletedTask;
    }

    static FlowControlStateChanged Statement(FlowState state, long sequence) =>
        new(Guid.Empty, sequence, "parcels", state, 1234, 1000, 500, 5000, [], DateTimeOffset.UtcNow + TimeSpan.FromMinutes(1));

    [Fact]
    public async Task Throttled_refused_bypassed_and_held_now_count_each_send_by_what_the_gate_did_with_it()
    {
        await using var provider = new ServiceCollection()
            .AddMetrics()
            .AddSingleton<FlowControlStateStore>()
            .AddMassTransitTestHarness(x =>
            {
                x.AddConsumer<ParcelConsumer>().Endpoint(e => e.Name = "parcels");
                x.UsingInMemory((context, cfg) =>
                {
                    cfg.UseProducerControlFlow(context, o =>
                    {
                        o.WhenSlow = SlowAction.Delay;
                        o.SlowDelay = TimeSpan.FromMilliseconds(1);
                        o.WhenStopped = StopAction.Wait;
                    });
                    cfg.ConfigureEndpoints(context);
                });
            })
            .BuildServiceProvider(true);
        var harness = provider.GetRequiredService<ITestHarness>();
        await harness.Start();
        var store = provider.GetRequiredService<FlowControlStateStore>();
        var endpoint = await harness.Bus.GetSendEndpoint(new Uri("queue:parcels"));
        Assert.Equal(new ProducerThrottling("parcels", 0, 0, 0, 0), store.Throttling("parcels"));

        // Normal: not counted. Slow: two delayed sends, one urgent let through.
        await endpoint.Send(new Parcel(1));
        store.Apply(Statement(FlowState.Slow, 1));
        await endpoint.Send(new Parcel(2));
        await endpoint.Send(new Parcel(3));
        await endpoint.Send(new Parcel(4), c => c.SetUrgent());
        Assert.Equal(new ProducerThrottling("parcels", 2, 0, 1, 0), store.Throttling("parcels"));

        // Stopped: a send is held (counted as held now) until the queue is slowed again, then delayed and let through.
        store.Apply(Statement(FlowState.Stop, 2));
        var held = endpoint.Send(new Parcel(5));
        await Eventually.True(() => store.Throttling("parcels").HeldNow == 1, TimeSpan.FromSeconds(10), "the send is held while the queue is stopped");
        Assert.False(held.IsCompleted);
        store.Apply(Statement(FlowState.Slow, 3));
        await held;
        Assert.Equal(new ProducerThrottling("parcels", 3, 0, 1, 0), store.Throttling("parcels"));

        // Every parcel sent was consumed, each once.
        await Eventually.True(async () => (await harness.Consumed.Now<Parcel>()).Count == 5, TimeSpan.FromSeconds(10), "the five parcels are consumed");
        var consumed = (await harness.Consumed.Settled<Parcel>()).Select(m => m.Context.Message.Number).Order().ToArray();
        Assert.Equal(new[] { 1, 2, 3, 4, 5 }, consumed);
        Assert.Contains("parcels", store.Queues);
    }

    [Fact]
    public async Task A_refused_send_is_counted_as_refused()
    {
        await using var provider = new ServiceCollection()
            .AddMetrics()
            .AddSingleton<FlowControlStateStore>()
            .AddMassTransitTestHarness(x =>
            {
                x.AddConsumer<ParcelConsumer>().Endpoint(e => e.Name = "parcels");
                x.UsingInMemory((context, cfg) =>
                {
                    cfg.UseProducerControlFlow(context, o => o.WhenStopped = StopAction.Reject);
                    cfg.ConfigureEndpoints(context);
                });
            })
            .BuildServiceProvider(true);
        var harness = provider.GetRequiredService<ITestHarness>();
        await harness.Start();
        var store = provider.GetRequiredService<FlowControlStateStore>();
        store.Apply(Statement(FlowState.Stop, 1));
        var endpoint = await harness.Bus.GetSendEndpoint(new Uri("queue:parcels"));

        await Assert.ThrowsAsync<BackPressureException>(() => endpoint.Send(new Parcel(1)));
        await Assert.ThrowsAsync<BackPressureException>(() => endpoint.Send(new Parcel(2)));

        Assert.Equal(new ProducerThrottling("parcels", 0, 2, 0, 0), store.Throttling("parcels"));
        Assert.False(await harness.Sent.Any<Parcel>(), "a refused parcel is not sent");
    }
}
