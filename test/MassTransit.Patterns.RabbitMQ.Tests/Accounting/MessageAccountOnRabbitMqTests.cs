using System.Text;
using MassTransit.Patterns.Testing;
using Microsoft.Extensions.DependencyInjection;
using RabbitMQ.Client;

namespace MassTransit.Patterns.RabbitMQ.Tests.Accounting.Messages
{
    public record Counted(int Number);
}

namespace MassTransit.Patterns.RabbitMQ.Tests.Accounting
{
    using Messages;

    /// <summary>
    /// The message account itself, on the real broker: it accepts messages that ended where the test said, and fails,
    /// naming the place, when one ended somewhere the test did not expect, went missing or was consumed twice.
    /// </summary>
    public sealed class MessageAccountOnRabbitMqTests
    {
        const int Sent = 10, Faulting = 3;

        /// <summary>Consumes numbers below <c>Sent - Faulting</c>; the others throw, and MassTransit moves them to <c>_error</c>.</summary>
        public sealed class CountedConsumer(ConsumedMessages consumed) : IConsumer<Counted>
        {
            public Task Consume(ConsumeContext<Counted> context)
            {
                if (context.Message.Number >= Sent - Faulting)
                    throw new InvalidOperationException($"number {context.Message.Number} is refused");
                consumed.Record(context);
                return Task.CompletedTask;
            }
        }

        static async Task<(ServiceProvider Provider, IBusControl Bus)> StartAsync(string queue, ConsumedMessages consumed)
        {
            var provider = new ServiceCollection()
                .AddSingleton(consumed)
                .AddMassTransit(x =>
                {
                    x.AddConsumer<CountedConsumer>().Endpoint(e => e.Name = queue);
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
            var bus = provider.GetRequiredService<IBusControl>();
            await bus.StartAsync(TestContext.Current.CancellationToken);
            return (provider, bus);
        }

        static async Task<List<Guid>> SendAsync(IBus bus, string queue)
        {
            var endpoint = await bus.GetSendEndpoint(new Uri($"exchange:{queue}"));
            var ids = new List<Guid>();
            for (var i = 0; i < Sent; i++)
            {
                var id = NewId.NextGuid();
                await endpoint.Send(new Counted(i), c => c.MessageId = id);
                ids.Add(id);
            }
            return ids;
        }

        static async Task DeleteAsync(string queue)
        {
            await using var connection = await Broker.Factory().CreateConnectionAsync();
            await using var channel = await connection.CreateChannelAsync();
            foreach (var name in new[] { queue, queue + "_error", queue + "_skipped" })
            {
                await channel.QueueDeleteAsync(name);
                await channel.ExchangeDeleteAsync(name);
            }
        }

        [Fact]
        public async Task Ten_sent_seven_consumed_and_three_in_error_are_accounted_for_by_id()
        {
            var queue = Broker.UniqueQueue("acct-ok");
            var consumed = new ConsumedMessages();
            var (provider, bus) = await StartAsync(queue, consumed);
            try
            {
                var ids = await SendAsync(bus, queue);

                await new MessageAccount()
                    .Sent(ids)
                    .Consumed(consumed, Expect.Ids(ids.Take(Sent - Faulting)))
                    .Endpoint(queue, Expect.Empty)
                    .Queue(queue + "_error", Expect.Ids(ids.Skip(Sent - Faulting)))
                    .AssertAllAccountedAsync(TimeSpan.FromSeconds(20));
            }
            finally
            {
                await bus.StopAsync(CancellationToken.None);
                await provider.DisposeAsync();
                await DeleteAsync(queue);
            }
        }

        [Fact]
        public async Task A_stray_copy_in_skipped_fails_the_account_naming_skipped_and_why_it_is_there()
        {
            var queue = Broker.UniqueQueue("acct-stray");
            var consumed = new ConsumedMessages();
            var (provider, bus) = await StartAsync(queue, consumed);
            try
            {
                var ids = await SendAsync(bus, queue);
                // What a transport that both acknowledged a message and dead-lettered it would leave: a copy in _skipped.
                await using (var connection = await Broker.Factory().CreateConnectionAsync(TestContext.Current.CancellationToken))
                await using (var channel = await connection.CreateChannelAsync(cancellationToken: TestContext.Current.CancellationToken))
                {
                    await channel.QueueDeclareAsync(queue + "_skipped", durable: true, exclusive: false, autoDelete: false,
                        cancellationToken: TestContext.Current.CancellationToken);
                    var properties = new BasicProperties
                    {
                        MessageId = ids[0].ToString(),
                        Persistent = true,
                        Headers = new Dictionary<string, object?> { ["MT-Reason"] = "dead-letter" }
                    };
                    await channel.BasicPublishAsync("", queue + "_skipped", true, properties, Encoding.UTF8.GetBytes("{}"), TestContext.Current.CancellationToken);
                }

                var account = new MessageAccount()
                    .Sent(ids)
                    .Consumed(consumed, Expect.Ids(ids.Take(Sent - Faulting)))
                    .Endpoint(queue, Expect.Empty)
                    .Queue(queue + "_error", Expect.Exactly(Faulting));
                var failure = await Assert.ThrowsAnyAsync<Exception>(() => account.AssertAllAccountedAsync(TimeSpan.FromSeconds(4)));

                TestContext.Current.TestOutputHelper?.WriteLine(failure.Message);
                Assert.Contains($"{queue}_skipped holds 1, expected empty", failure.Message);
                Assert.Contains($"message {ids[0]} is in consumed and in {queue}_skipped", failure.Message);
                Assert.Contains("MT-Reason=dead-letter", failure.Message);
                Assert.Contains("the places hold 11, expected 10", failure.Message);
            }
            finally
            {
                await bus.StopAsync(CancellationToken.None);
                await provider.DisposeAsync();
                await DeleteAsync(queue);
            }
        }

        [Fact]
        public async Task A_lost_message_a_duplicate_consumption_and_an_id_never_sent_each_fail_the_account()
        {
            var ids = Enumerable.Range(0, 4).Select(_ => Guid.NewGuid()).ToArray();
            var stranger = Guid.NewGuid();
            var consumed = new ConsumedMessages();
            consumed.Record(ids[0]);
            consumed.Record(ids[1]);
            consumed.Record(ids[1]);
            consumed.Record(stranger);
            var parked = new List<Guid> { ids[2] };

            var failure = await Assert.ThrowsAnyAsync<Exception>(() => new MessageAccount()
                .Sent(ids)
                .Consumed(consumed, Expect.Any)
                .Place("parked", () => parked, Expect.Exactly(1))
                .AssertAllAccountedAsync(TimeSpan.FromMilliseconds(500)));

            TestContext.Current.TestOutputHelper?.WriteLine(failure.Message);
            Assert.Contains($"consumed: 1 message(s) consumed more than once: {ids[1]} x2", failure.Message);
            Assert.Contains($"1 message id(s) were not sent: {stranger} in consumed", failure.Message);
            Assert.Contains($"1 sent message id(s) are nowhere: {ids[3]}", failure.Message);
            Assert.Contains("the places hold 5, expected 4", failure.Message);
        }
    }
}
