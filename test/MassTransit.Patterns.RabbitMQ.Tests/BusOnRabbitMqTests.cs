using MassTransit.Patterns.QueueDepth;
using MassTransit.Patterns.RabbitMQ.QueueDepth;
using MassTransit.Patterns.RabbitMQ.Tests.Accounting;
using MassTransit.Patterns.Testing;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.RabbitMQ.Tests.Messages
{
    public record Ping(int Number);
}

namespace MassTransit.Patterns.RabbitMQ.Tests
{
    using Messages;

    /// <summary>A MassTransit bus on the real broker, under the test harness, with the probe reading its queue.</summary>
    public sealed class BusOnRabbitMqTests
    {
        sealed class PingConsumer : IConsumer<Ping>
        {
            public static readonly TaskCompletionSource Release = new(TaskCreationOptions.RunContinuationsAsynchronously);

            public Task Consume(ConsumeContext<Ping> context) => Release.Task;
        }

        [Fact]
        public async Task Messages_sent_through_MassTransit_are_seen_by_the_probe_and_then_consumed()
        {
            var queue = Broker.UniqueQueue("bus-ping");
            await using var provider = new ServiceCollection()
                .AddRabbitMqQueueDepthProbe(o =>
                {
                    o.HostName = ServiceEnvironment.RabbitHost;
                    o.Port = ServiceEnvironment.RabbitAmqpPort;
                    o.UserName = ServiceEnvironment.RabbitUser;
                    o.Password = ServiceEnvironment.RabbitPassword;
                })
                .AddMassTransitTestHarness(x =>
                {
                    x.AddConsumer<PingConsumer>().Endpoint(e =>
                    {
                        e.Name = queue;
                        e.ConcurrentMessageLimit = 1;
                        e.PrefetchCount = 1;
                    });
                    x.UsingRabbitMq((context, cfg) =>
                    {
                        cfg.Host(Broker.BusHost(), h =>
                        {
                            h.Username(ServiceEnvironment.RabbitUser);
                            h.Password(ServiceEnvironment.RabbitPassword);
                        });
                        cfg.ConfigureEndpoints(context);
                    });
                })
                .BuildServiceProvider(true);
            var harness = provider.GetRequiredService<ITestHarness>();
            await harness.Start();
            try
            {
                var endpoint = await harness.Bus.GetSendEndpoint(new Uri($"exchange:{queue}"));
                var account = new MessageAccount();
                for (var i = 0; i < 20; i++)
                {
                    var id = NewId.NextGuid();
                    await endpoint.Send(new Ping(i), c => c.MessageId = id);
                    account.Sent(id);
                }

                var probe = provider.GetRequiredService<IQueueDepthProbe>();
                // One message is held by the consumer (prefetch 1); the rest wait in the queue.
                await Eventually.True(async () => (await probe.GetDepthAsync(queue)).Ready == 19, TimeSpan.FromSeconds(15), "19 ready behind the one in flight");

                PingConsumer.Release.SetResult();
                await Eventually.True(async () => (await probe.GetDepthAsync(queue)).Ready == 0, TimeSpan.FromSeconds(15), "the queue drains");
                await Eventually.True(async () => (await harness.Consumed.Now<Ping>()).Count == 20, TimeSpan.FromSeconds(15), "every ping consumed");
                await account
                    .Place("consumed", async _ => PlaceReading.Of((await harness.Consumed.Now<Ping>()).Select(c => c.Context.MessageId!.Value).ToArray()), Expect.Exactly(20))
                    .Endpoint(queue, Expect.Empty)
                    .AssertAllAccountedAsync(TimeSpan.FromSeconds(15));
            }
            finally
            {
                await harness.Stop();
            }
        }
    }
}
