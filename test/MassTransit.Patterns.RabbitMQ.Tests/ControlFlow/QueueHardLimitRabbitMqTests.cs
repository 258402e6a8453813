using System.Text.Json;
using MassTransit.Patterns.RabbitMQ.Tests.Accounting;
using MassTransit.Patterns.Testing;
using Microsoft.Extensions.DependencyInjection;
using RabbitMQ.Client;

namespace MassTransit.Patterns.RabbitMQ.Tests.ControlFlow.Messages
{
    public record Parcel(int Number);
}

namespace MassTransit.Patterns.RabbitMQ.Tests.ControlFlow
{
    using Messages;

    /// <summary>
    /// The broker's hard limit under the watermarks: a queue capped at N ready messages holds the
    /// (N+1)th confirmed send at the producer (refused, retried) until there is room or the producer
    /// gives up, in which case it was not stored; nothing in the queue is dropped to make room.
    /// </summary>
    public sealed class QueueHardLimitRabbitMqTests
    {
        const int Limit = 20;

        /// <summary>How long the producer is willing to be held: several of MassTransit's send retries.</summary>
        static readonly TimeSpan HeldFor = TimeSpan.FromSeconds(4);

        sealed class ParcelConsumer : IConsumer<Parcel>
        {
            public Task Consume(ConsumeContext<Parcel> context) => Task.CompletedTask;
        }

        static int NumberOf(ReadOnlyMemory<byte> body) =>
            JsonDocument.Parse(body).RootElement.GetProperty("message").GetProperty("number").GetInt32();

        [Fact]
        public async Task A_full_queue_refuses_the_send_and_keeps_what_it_holds()
        {
            var queue = "hard-limit-" + Guid.NewGuid().ToString("N")[..8];
            await using var provider = new ServiceCollection()
                .AddMassTransit(x =>
                {
                    x.UsingRabbitMq((context, cfg) =>
                    {
                        cfg.Host(Broker.BusHost(), h =>
                        {
                            h.Username(ServiceEnvironment.RabbitUser);
                            h.Password(ServiceEnvironment.RabbitPassword);
                        });
                    });
                })
                .BuildServiceProvider(true);
            var bus = provider.GetRequiredService<IBusControl>();
            await bus.StartAsync(TestContext.Current.CancellationToken);
            try
            {
                // The endpoint declares the queue with its limit, then stops consuming, so the queue only fills.
                var handle = bus.ConnectReceiveEndpoint(queue, e =>
                {
                    ((IRabbitMqReceiveEndpointConfigurator)e).SetQueueHardLimit(Limit);
                    e.Consumer<ParcelConsumer>();
                });
                await handle.Ready;
                await handle.StopAsync(TestContext.Current.CancellationToken);

                var endpoint = await bus.GetSendEndpoint(new Uri($"exchange:{queue}"));
                for (var i = 0; i < Limit; i++)
                    await endpoint.Send(new Parcel(i), TestContext.Current.CancellationToken);

                await using var connection = await Broker.Factory().CreateConnectionAsync(TestContext.Current.CancellationToken);
                await using var channel = await connection.CreateChannelAsync(cancellationToken: TestContext.Current.CancellationToken);

                // Full: the next send is held for as long as the producer is willing to wait, then given up, not stored.
                var refused = 0;
                using (var patience = new CancellationTokenSource(HeldFor))
                    await Assert.ThrowsAnyAsync<OperationCanceledException>(() => endpoint.Send(new Parcel(Limit), patience.Token));
                refused++;
                Assert.Equal((uint)Limit, (await channel.QueueDeclarePassiveAsync(queue, TestContext.Current.CancellationToken)).MessageCount);

                // Nothing was dropped to make room: the oldest is still at the head. Taking it makes room for one.
                var head = await channel.BasicGetAsync(queue, autoAck: true, TestContext.Current.CancellationToken);
                Assert.NotNull(head);
                Assert.Equal(0, NumberOf(head.Body));

                using (var patience = new CancellationTokenSource(HeldFor))
                    await endpoint.Send(new Parcel(Limit + 1), patience.Token);
                Assert.Equal((uint)Limit, (await channel.QueueDeclarePassiveAsync(queue, TestContext.Current.CancellationToken)).MessageCount);
                var numbers = new List<int>();
                while (await channel.BasicGetAsync(queue, autoAck: true, TestContext.Current.CancellationToken) is { } message)
                    numbers.Add(NumberOf(message.Body));
                // The given-up send (Limit) was never stored, not even by a retry still under way.
                Assert.Equal([.. Enumerable.Range(1, Limit - 1), Limit + 1], numbers);
                await new MessageAccount()
                    .Sent(Limit + 2, "parcels")
                    .Place("refused at the producer, given up", () => refused, Expect.Exactly(1))
                    .Place("taken by the test (basic.get)", () => 1 + numbers.Count, Expect.Exactly(Limit + 1))
                    .Endpoint(queue, Expect.Empty)
                    .AssertAllAccountedAsync(TimeSpan.FromSeconds(15));
            }
            finally
            {
                await bus.StopAsync(CancellationToken.None);
                await using var connection = await Broker.Factory().CreateConnectionAsync();
                await using var channel = await connection.CreateChannelAsync();
                await channel.QueueDeleteAsync(queue);
                await channel.ExchangeDeleteAsync(queue);
            }
        }
    }
}
