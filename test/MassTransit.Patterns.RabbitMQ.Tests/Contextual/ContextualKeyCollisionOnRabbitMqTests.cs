using System.Collections.Concurrent;
using MassTransit.Patterns.Contextual;
using MassTransit.Patterns.RabbitMQ.Contextual;
using MassTransit.Patterns.RabbitMQ.QueueDepth;
using MassTransit.Patterns.Testing;
using MassTransit.Testing;
using MassTransit.Transports;
using Microsoft.Extensions.DependencyInjection;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace MassTransit.Patterns.RabbitMQ.Tests.Contextual.Messages
{
    public record LookalikeJob(string Tenant, int Number);
}

namespace MassTransit.Patterns.RabbitMQ.Tests.Contextual
{
    using Messages;

    /// <summary>
    /// Lookalike context keys on the real broker: two that differ only in case, and one written as another's
    /// sanitized form. Each gets a queue of its own and its messages are consumed there.
    /// </summary>
    public sealed class ContextualKeyCollisionOnRabbitMqTests(ITestOutputHelper output)
    {
        static readonly string[] Lookalikes = ["Tenant", "tenant", "Zürich/ost #1", "Z-rich-ost--1-e94a2dc3"];
        const int Rounds = 5;

        public sealed class Log
        {
            public readonly ConcurrentQueue<(string Tenant, int Number, string Queue)> Done = new();
        }

        public sealed class JobConsumer(Log log) : IConsumer<LookalikeJob>
        {
            public Task Consume(ConsumeContext<LookalikeJob> context)
            {
                log.Done.Enqueue((context.Message.Tenant, context.Message.Number, context.ReceiveContext.InputAddress.GetEndpointName() ?? ""));
                return Task.CompletedTask;
            }
        }

        [Fact]
        public async Task Keys_differing_in_case_and_a_literal_equal_to_a_sanitized_key_each_get_a_queue_of_their_own_and_are_consumed_there()
        {
            Assert.Equal(Lookalikes[3], ContextKey.Normalize(Lookalikes[2], InvalidContextKeyHandling.Sanitize, 64));
            var queue = Broker.UniqueQueue("ctx-alike");
            var log = new Log();
            var provider = new ServiceCollection()
                .AddSingleton(log)
                .AddMassTransitTestHarness(x =>
                {
                    x.SetTestTimeouts(testTimeout: TimeSpan.FromSeconds(60));
                    x.AddContextualQueues<LookalikeJob>();
                    x.AddConsumer<JobConsumer>().ExcludeFromConfigureEndpoints();
                    x.UsingRabbitMq((context, cfg) =>
                    {
                        cfg.Host(Broker.BusHost(), h =>
                        {
                            h.Username(ServiceEnvironment.RabbitUser);
                            h.Password(ServiceEnvironment.RabbitPassword);
                        });
                        cfg.UseContextualQueues<LookalikeJob>(context, new RabbitMqProbeOptions
                        {
                            HostName = ServiceEnvironment.RabbitHost,
                            Port = ServiceEnvironment.RabbitAmqpPort,
                            UserName = ServiceEnvironment.RabbitUser,
                            Password = ServiceEnvironment.RabbitPassword
                        }, q => q.DefaultQueue(queue).Context(m => m.Tenant).Endpoint(e => e.ConfigureConsumer<JobConsumer>(context)));
                        cfg.ConfigureEndpoints(context);
                    });
                })
                .BuildServiceProvider(true);
            var harness = provider.GetRequiredService<ITestHarness>();
            await harness.Start();
            var routing = provider.GetRequiredService<ContextualRouting<LookalikeJob>>();
            var queues = Lookalikes.Select(c => routing!.Options.QueueNameOf(routing.KeyOf(c)!)).ToArray();
            try
            {
                var endpoint = await harness.Bus.GetSendEndpoint(routing!.RouterAddress);

                // First sight: no binding yet, so each first message reaches the default queue, which creates the context's queue.
                var number = 0;
                foreach (var context in Lookalikes)
                    await endpoint.Send(new LookalikeJob(context, ++number));
                await Eventually.True(() => log.Done.Count >= Lookalikes.Length, TimeSpan.FromSeconds(20), "the first messages consumed");
                var got = new Dictionary<string, bool>();
                foreach (var context in Lookalikes)
                    got[context] = await routing.WaitForQueueAsync(context, TimeSpan.FromSeconds(10));

                for (var round = 0; round < Rounds; round++)
                    foreach (var context in Lookalikes)
                        await endpoint.Send(new LookalikeJob(context, ++number));
                var total = number;
                await Eventually.True(() => log.Done.Count >= total, TimeSpan.FromSeconds(20), $"all {total} messages consumed");

                // Every message consumed once; the first ones on the default queue.
                var done = log.Done.ToArray();
                Assert.Equal(Enumerable.Range(1, total), done.Select(d => d.Number).Order());
                Assert.All(done.Where(d => d.Number <= Lookalikes.Length), d => Assert.Equal(queue, d.Queue));

                // Each context's later messages on a queue of its own, and that queue consumed only them.
                var later = done.Where(d => d.Number > Lookalikes.Length).ToArray();
                var where = string.Join("; ", Lookalikes.Select(c =>
                    $"'{c}' (queue created: {got[c]}) -> {string.Join(", ", later.Where(d => d.Tenant == c).Select(d => d.Queue).Distinct())}"));
                output.WriteLine(where);
                for (var i = 0; i < Lookalikes.Length; i++)
                {
                    var context = Lookalikes[i];
                    var on = later.Where(d => d.Tenant == context).Select(d => d.Queue).Distinct().ToArray();
                    Assert.True(on.Length == 1 && on[0] == queues[i], $"'{context}' is not consumed on its own queue {queues[i]}: {where}");
                    Assert.Equal(later.Where(d => d.Tenant == context).Select(d => d.Number).Order(), later.Where(d => d.Queue == queues[i]).Select(d => d.Number).Order());
                }
                Assert.Equal(Lookalikes.Length, queues.Distinct(StringComparer.OrdinalIgnoreCase).Count());
                Assert.DoesNotContain(later, d => d.Queue == queue);

                // Nothing left behind, nothing faulted or skipped.
                foreach (var name in queues.Prepend(queue))
                {
                    Assert.Equal((long?)0, await ReadyAsync(name));
                    Assert.True(await ReadyAsync(name + "_error") is null or 0, $"{name}_error is empty");
                    Assert.True(await ReadyAsync(name + "_skipped") is null or 0, $"{name}_skipped is empty");
                }
                Assert.Empty(await harness.Published.Settled<Fault<LookalikeJob>>());
            }
            finally
            {
                await harness.Stop();
                await provider.DisposeAsync();
                await using var connection = await Broker.Factory().CreateConnectionAsync();
                foreach (var name in queues.Prepend(queue).Distinct().SelectMany(n => new[] { n, n + "_error", n + "_skipped" }))
                {
                    await using var channel = await connection.CreateChannelAsync();
                    await channel.QueueDeleteAsync(name);
                    await channel.ExchangeDeleteAsync(name);
                }
                await using var last = await connection.CreateChannelAsync();
                await last.ExchangeDeleteAsync(queue + ".router");
            }
        }

        /// <summary>Ready messages in a queue, or null when it does not exist.</summary>
        static async Task<long?> ReadyAsync(string queue)
        {
            await using var connection = await Broker.Factory().CreateConnectionAsync();
            await using var channel = await connection.CreateChannelAsync();
            try
            {
                return (await channel.QueueDeclarePassiveAsync(queue)).MessageCount;
            }
            catch (OperationInterruptedException exception) when (exception.ShutdownReason?.ReplyCode == 404)
            {
                return null;
            }
        }
    }
}
