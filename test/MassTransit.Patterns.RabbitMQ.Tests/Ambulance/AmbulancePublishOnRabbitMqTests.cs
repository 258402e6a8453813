using System.Collections.Concurrent;
using MassTransit.Patterns.Ambulance;
using MassTransit.Patterns.Diagnostics;
using MassTransit.Patterns.RabbitMQ.Ambulance;
using MassTransit.Patterns.RabbitMQ.Tests.Accounting;
using MassTransit.Patterns.RabbitMQ.Tests.Ambulance.Messages;
using MassTransit.Patterns.Testing;
using MassTransit.Testing;
using MassTransit.Transports;
using Microsoft.Extensions.DependencyInjection;
using RabbitMQ.Client;

namespace MassTransit.Patterns.RabbitMQ.Tests.Ambulance;

/// <summary>
/// The fork on the real broker: an urgent publish reaches the lane of a subscriber that has one and
/// the queue of one that does not, each exactly once; sends to <c>queue:</c> and <c>exchange:</c>
/// addresses fork alike; the lane copy left in the normal queue is dropped, not moved to _skipped.
/// </summary>
public sealed class AmbulancePublishOnRabbitMqTests
{
    public sealed class Seen
    {
        public readonly ConcurrentQueue<(string Consumer, string Queue, int Number, bool Urgent)> All = new();
    }

    public sealed class LaneSubscriber(Seen seen) : IConsumer<Alert>
    {
        public Task Consume(ConsumeContext<Alert> context)
        {
            seen.All.Enqueue(("lane", context.ReceiveContext.InputAddress.GetEndpointName()!, context.Message.Number, context.IsUrgent()));
            return Task.CompletedTask;
        }
    }

    public sealed class PlainSubscriber(Seen seen) : IConsumer<Alert>
    {
        public Task Consume(ConsumeContext<Alert> context)
        {
            seen.All.Enqueue(("plain", context.ReceiveContext.InputAddress.GetEndpointName()!, context.Message.Number, context.IsUrgent()));
            return Task.CompletedTask;
        }
    }

    [Fact]
    public async Task Urgent_publishes_and_sends_reach_the_lane_once_and_subscribers_without_a_lane_once()
    {
        var withLane = Broker.UniqueQueue("amb-pub-lane");
        var without = Broker.UniqueQueue("amb-pub-plain");
        var lane = withLane + AmbulanceLaneOptions.DefaultSuffix;
        var seen = new Seen();
        using var dropped = new InstrumentCount(AmbulanceMetrics.LaneCopiesName, PatternsTags.Queue, withLane);
        await using var provider = new ServiceCollection()
            .AddMetrics()
            .AddSingleton(seen)
            .AddMassTransitTestHarness(x =>
            {
                x.AddConsumer<LaneSubscriber>().Endpoint(e => e.Name = withLane);
                x.AddConsumer<PlainSubscriber>().Endpoint(e => e.Name = without);
                x.UsingRabbitMq((context, cfg) =>
                {
                    cfg.Host(Broker.BusHost(), h =>
                    {
                        h.Username(ServiceEnvironment.RabbitUser);
                        h.Password(ServiceEnvironment.RabbitPassword);
                    });
                    cfg.UseAmbulanceLane(context, a =>
                    {
                        a.Urgent<Alert>(m => m.Number >= 100);
                        a.Endpoint(withLane);
                    });
                    cfg.ConfigureEndpoints(context);
                });
            })
            .BuildServiceProvider(true);
        var harness = provider.GetRequiredService<ITestHarness>();
        await harness.Start();
        try
        {
            await harness.Bus.Publish(new Alert(1));
            await harness.Bus.Publish(new Alert(2), ctx => ctx.SetUrgent());
            await harness.Bus.Publish(new Alert(100));
            await (await harness.Bus.GetSendEndpoint(new Uri($"queue:{withLane}"))).Send(new Alert(3), ctx => ctx.SetUrgent());
            await (await harness.Bus.GetSendEndpoint(new Uri($"exchange:{withLane}"))).Send(new Alert(4), ctx => ctx.SetUrgent());
            await Eventually.True(() => seen.All.Count >= 8, TimeSpan.FromSeconds(15), "3 publishes to 2 subscribers and 2 sends consumed");
            await harness.InactivityTask;

            var all = seen.All.ToArray();
            Assert.Equal(8, all.Length);
            Assert.Equal([(withLane, 1), (lane, 2), (lane, 3), (lane, 4), (lane, 100)],
                all.Where(s => s.Consumer == "lane").Select(s => (s.Queue, s.Number)).OrderBy(s => s.Number));
            Assert.Equal([(without, 1), (without, 2), (without, 100)],
                all.Where(s => s.Consumer == "plain").Select(s => (s.Queue, s.Number)).OrderBy(s => s.Number));
            Assert.True(all.Single(s => s is { Consumer: "plain", Number: 2 }).Urgent);

            // The four lane copies were dropped from the normal queue: acknowledged, not dead-lettered.
            await using var connection = await Broker.Factory().CreateConnectionAsync();
            await using var channel = await connection.CreateChannelAsync();
            Assert.Equal(0u, await channel.MessageCountAsync(withLane));
            var skipped = await Assert.ThrowsAnyAsync<global::RabbitMQ.Client.Exceptions.OperationInterruptedException>(
                () => channel.QueueDeclarePassiveAsync(withLane + "_skipped"));
            Assert.Contains("NOT_FOUND", skipped.Message);

            await new MessageAccount()
                .Sent(8, "deliveries: 3 publishes to 2 subscribers and 2 sends")
                .Copied(4, "the fork's lane copy of each of the 4 urgent deliveries to the subscriber with a lane")
                .Place("consumed", () => seen.All.Count, Expect.Exactly(8))
                .Place("lane copies dropped at " + withLane, () => dropped.Count, Expect.Exactly(4))
                .Endpoint(withLane, Expect.Empty)
                .Endpoint(without, Expect.Empty)
                .AssertAllAccountedAsync(TimeSpan.FromSeconds(15));
        }
        finally
        {
            await harness.Stop();
            await using var connection = await Broker.Factory().CreateConnectionAsync();
            await using var channel = await connection.CreateChannelAsync();
            foreach (var name in new[] { withLane, lane, without, withLane + "_skipped" })
                await channel.QueueDeleteAsync(name);
            foreach (var name in new[] { withLane, lane, lane + ".urgent", without })
                await channel.ExchangeDeleteAsync(name);
        }
    }
}
