using MassTransit.Patterns.QueueDepth;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Tests.Messages;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Tests.QueueDepth;

public sealed class InMemoryQueueDepthProbeTests
{
    sealed class Gate
    {
        public readonly TaskCompletionSource Open = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    sealed class GatedConsumer(Gate gate) : IConsumer<WorkItem>, IConsumer<Announcement>
    {
        public Task Consume(ConsumeContext<WorkItem> context) => gate.Open.Task;

        public Task Consume(ConsumeContext<Announcement> context) => gate.Open.Task;
    }

    static async Task<(ServiceProvider Provider, ITestHarness Harness, Gate Gate)> StartAsync()
    {
        var gate = new Gate();
        var provider = new ServiceCollection()
            .AddSingleton(gate)
            .AddInMemoryQueueDepthProbe()
            .AddMassTransitTestHarness(x =>
            {
                x.AddConsumer<GatedConsumer>().Endpoint(e =>
                {
                    e.Name = "gated-work";
                    e.ConcurrentMessageLimit = 2;
                });
            })
            .BuildServiceProvider(true);
        var harness = provider.GetRequiredService<ITestHarness>();
        await harness.Start();
        return (provider, harness, gate);
    }

    [Fact]
    public async Task Sent_messages_count_as_ready_until_started_and_as_unacknowledged_until_settled()
    {
        var (provider, harness, gate) = await StartAsync();
        await using var _ = provider;
        var probe = provider.GetRequiredService<IQueueDepthProbe>();

        var endpoint = await harness.Bus.GetSendEndpoint(new Uri("queue:gated-work"));
        for (var i = 0; i < 10; i++)
            await endpoint.Send(new WorkItem(i));

        await Eventually.True(async () =>
        {
            var depth = await probe.GetDepthAsync("gated-work");
            return depth is { Ready: 8, Unacknowledged: 2 };
        }, TimeSpan.FromSeconds(10), "two messages in flight (the concurrency limit) and eight ready");

        gate.Open.SetResult();

        await Eventually.True(async () =>
        {
            var depth = await probe.GetDepthAsync("gated-work");
            return depth is { Ready: 0, Unacknowledged: 0 };
        }, TimeSpan.FromSeconds(10), "the queue drains once the consumer is released");
        Assert.Equal(10, (await harness.Consumed.Settled<WorkItem>()).Count);
    }

    [Fact]
    public async Task Published_messages_count_against_the_queues_bound_to_their_exchange()
    {
        var (provider, harness, gate) = await StartAsync();
        await using var _ = provider;
        var probe = provider.GetRequiredService<IQueueDepthProbe>();

        for (var i = 0; i < 5; i++)
            await harness.Bus.Publish(new Announcement($"a{i}"));

        await Eventually.True(async () =>
        {
            var depth = await probe.GetDepthAsync("gated-work");
            return depth is { Ready: 3, Unacknowledged: 2 };
        }, TimeSpan.FromSeconds(10), "published messages reach the consumer's queue through its exchange");

        gate.Open.SetResult();
        await Eventually.True(async () => (await probe.GetDepthAsync("gated-work")).Total == 0, TimeSpan.FromSeconds(10), "drained");
    }

    [Fact]
    public async Task An_unknown_queue_is_reported_as_not_found_not_as_empty()
    {
        var (provider, _, gate) = await StartAsync();
        await using var __ = provider;
        gate.Open.SetResult();
        var probe = provider.GetRequiredService<IQueueDepthProbe>();

        var failure = await Assert.ThrowsAsync<QueueDepthProbeException>(() => probe.GetDepthAsync("no-such-queue"));

        Assert.Equal(QueueDepthFailure.QueueNotFound, failure.Failure);
        Assert.Equal("no-such-queue", failure.Queue);
    }

    public record LateNews(int Number);

    [Fact]
    public async Task A_queue_bound_after_the_probe_read_the_topology_is_counted()
    {
        var (provider, harness, gate) = await StartAsync();
        await using var _ = provider;
        var probe = provider.GetRequiredService<IQueueDepthProbe>();

        // Nobody consumes LateNews yet: its exchange exists with no queue, and the probe reads that topology.
        await harness.Bus.Publish(new LateNews(0));
        await Assert.ThrowsAsync<QueueDepthProbeException>(() => probe.GetDepthAsync("late-news"));

        var handle = harness.Bus.ConnectReceiveEndpoint("late-news", e =>
        {
            e.ConcurrentMessageLimit = 1;
            e.Handler<LateNews>(_ => gate.Open.Task);
        });
        await handle.Ready;
        for (var i = 1; i <= 4; i++)
            await harness.Bus.Publish(new LateNews(i));

        await Eventually.True(async () => (await probe.GetDepthAsync("late-news")) is { Ready: 3, Unacknowledged: 1 },
            TimeSpan.FromSeconds(10), "the new binding is seen: one in flight, three ready");
        gate.Open.SetResult();
        await handle.StopAsync();
    }
}
