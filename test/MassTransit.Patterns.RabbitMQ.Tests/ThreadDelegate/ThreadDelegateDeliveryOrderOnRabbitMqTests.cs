using System.Collections.Concurrent;
using MassTransit.Patterns.RabbitMQ.ThreadDelegate;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.ThreadDelegate;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.RabbitMQ.Tests.ThreadDelegate.Messages
{
    public record RestartWork(string Key, int Seq, int DelayMs);

    public record HoldWork(string Key, int Seq, bool Fail);
}

namespace MassTransit.Patterns.RabbitMQ.Tests.ThreadDelegate
{
    using Messages;

    /// <summary>Every consumption of a message, per key in completion order, with its message id.</summary>
    public sealed class ConsumptionLog
    {
        readonly ConcurrentDictionary<string, List<int>> _byKey = new();
        readonly ConcurrentDictionary<Guid, int> _timesConsumed = new();
        int _count;

        public int Count => Volatile.Read(ref _count);

        public IReadOnlyDictionary<Guid, int> TimesConsumed => _timesConsumed;

        public void Consumed(Guid messageId, string key, int seq)
        {
            var list = _byKey.GetOrAdd(key, _ => []);
            lock (list)
                list.Add(seq);
            _timesConsumed.AddOrUpdate(messageId, 1, (_, n) => n + 1);
            Interlocked.Increment(ref _count);
        }

        public IReadOnlyList<int> Of(string key)
        {
            var list = _byKey.GetOrAdd(key, _ => []);
            lock (list)
                return [.. list];
        }
    }

    public sealed class RestartWorkConsumer(ConsumptionLog log) : IConsumer<RestartWork>
    {
        public async Task Consume(ConsumeContext<RestartWork> context)
        {
            if (context.Message.DelayMs > 0)
                await Task.Delay(context.Message.DelayMs);
            log.Consumed(context.MessageId!.Value, context.Message.Key, context.Message.Seq);
        }
    }

    public sealed class HoldWorkConsumer(ConsumptionLog log) : IConsumer<HoldWork>
    {
        public async Task Consume(ConsumeContext<HoldWork> context)
        {
            await Task.Delay(1);
            if (context.Message.Fail)
                throw new InvalidOperationException($"{context.Message.Key}#{context.Message.Seq} always fails");
            log.Consumed(context.MessageId!.Value, context.Message.Key, context.Message.Seq);
        }
    }

    /// <summary>
    /// The thread delegate's delivery order on RabbitMQ is chosen explicitly: the RabbitMQ package's
    /// delivery-tag order, or start-up fails naming the fix; never a silent fallback to arrival order.
    /// </summary>
    public sealed class ThreadDelegateDeliveryOrderOnRabbitMqTests
    {
        static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

        static void Host(IRabbitMqBusFactoryConfigurator cfg) =>
            cfg.Host(Broker.BusHost(), h =>
            {
                h.Username(ServiceEnvironment.RabbitUser);
                h.Password(ServiceEnvironment.RabbitPassword);
            });

        [Fact(Timeout = 60_000)]
        public async Task Without_a_delivery_order_a_RabbitMQ_endpoint_fails_start_up_naming_the_fix()
        {
            var queue = Broker.UniqueQueue("td-no-order");
            await using var provider = new ServiceCollection()
                .AddMetrics()
                .AddSingleton(new ConsumptionLog())
                .AddMassTransit(x =>
                {
                    x.AddConsumer<RestartWorkConsumer>();
                    x.UsingRabbitMq((context, cfg) =>
                    {
                        Host(cfg);
                        cfg.ReceiveEndpoint(queue, e =>
                        {
                            // The core extension, as on any transport: nothing says which delivery order RabbitMQ gives.
                            ThreadDelegateConfigurationExtensions.UseThreadDelegate(e, context, o => o.Key<RestartWork>(m => m.Key));
                            e.ConfigureConsumer<RestartWorkConsumer>(context);
                        });
                    });
                })
                .BuildServiceProvider(true);

            var exception = await Assert.ThrowsAnyAsync<ConfigurationException>(async () =>
            {
                var bus = provider.GetRequiredService<IBusControl>();
                await bus.StartAsync(TestContext.Current.CancellationToken);
                await bus.StopAsync(TestContext.Current.CancellationToken);
            });
            Assert.Contains($"ThreadDelegateOptions[{queue}].DeliveryOrder", exception.Message);
            Assert.Contains("UseRabbitMqDeliveryOrder()", exception.Message);
            Assert.Equal(0u, await MessageCountAsync(queue)); // nothing was consumed in a weaker order: the endpoint never started
        }

        /// <summary>
        /// FailedKey = Hold on RabbitMQ: the failed message and the held key's later messages are in the
        /// error queue in the key's order (read back from _error); the other keys are consumed.
        /// </summary>
        [Fact(Timeout = 120_000)]
        public async Task A_held_keys_messages_are_in_the_error_queue_in_send_order()
        {
            var queue = Broker.UniqueQueue("td-held");
            const int held = 60, others = 120;
            var log = new ConsumptionLog();
            var control = new ThreadDelegateControl();
            await using var provider = new ServiceCollection()
                .AddMetrics()
                .AddSingleton(log)
                .AddMassTransit(x =>
                {
                    x.AddConsumer<HoldWorkConsumer>();
                    x.UsingRabbitMq((context, cfg) =>
                    {
                        Host(cfg);
                        cfg.ReceiveEndpoint(queue, e =>
                        {
                            e.UseThreadDelegate(context, o =>
                            {
                                o.Key<HoldWork>(m => m.Key);
                                o.Workers = 4;
                                o.FailedKey = FailedKeyBehavior.Hold;
                                o.Control = control;
                                o.UseRabbitMqDeliveryOrder();
                            });
                            e.ConfigureConsumer<HoldWorkConsumer>(context);
                        });
                    });
                })
                .BuildServiceProvider(true);
            var bus = provider.GetRequiredService<IBusControl>();
            await bus.StartAsync(TestContext.Current.CancellationToken);
            try
            {
                var endpoint = await bus.GetSendEndpoint(new Uri($"exchange:{queue}"));
                await endpoint.Send(new HoldWork("K", 0, Fail: true), TestContext.Current.CancellationToken);
                for (var i = 1; i <= Math.Max(held, others); i++)
                {
                    if (i <= held)
                        await endpoint.Send(new HoldWork("K", i, Fail: false), TestContext.Current.CancellationToken);
                    if (i <= others)
                        await endpoint.Send(new HoldWork($"J{i % 5}", (i - 1) / 5, Fail: false), TestContext.Current.CancellationToken);
                }

                await Eventually.True(async () => log.Count == others && await MessageCountAsync(queue + "_error") == held + 1, Deadline,
                    $"the other keys consumed ({log.Count}) and K#0..K#{held} in _error");
                await bus.StopAsync(TestContext.Current.CancellationToken);

                var inError = await ReadSeqsAsync(queue + "_error");
                Assert.Equal(Enumerable.Range(0, held + 1).Select(i => ("K", i)), inError);
                Assert.Empty(log.Of("K"));
                Assert.Equal(others, log.TimesConsumed.Count);
                Assert.Equal(0u, await MessageCountAsync(queue));
                Assert.Equal("K", Assert.Single(control.HeldKeys).Key);
            }
            finally
            {
                await bus.StopAsync(CancellationToken.None);
                await DeleteQueuesAsync(queue, queue + "_error");
            }
        }

        /// <summary>The (key, seq) of each message in <paramref name="queue"/>, front to back (the messages are taken).</summary>
        static async Task<List<(string Key, int Seq)>> ReadSeqsAsync(string queue)
        {
            var read = new List<(string, int)>();
            await using var connection = await Broker.Factory().CreateConnectionAsync();
            await using var channel = await connection.CreateChannelAsync();
            while (await channel.BasicGetAsync(queue, autoAck: true) is { } message)
            {
                using var document = System.Text.Json.JsonDocument.Parse(message.Body);
                var body = document.RootElement.GetProperty("message");
                read.Add((body.GetProperty("key").GetString()!, body.GetProperty("seq").GetInt32()));
            }
            return read;
        }

        /// <summary>
        /// The configuration of docs/thread-delegate.md (Turn it on) on a RabbitMQ endpoint (delivery-tag order): the bus is stopped and
        /// restarted three times while messages are in flight. Deliveries MassTransit drops while stopping
        /// go back to the queue; none of their keys' later messages may run before them.
        /// </summary>
        [Fact(Timeout = 180_000)]
        public async Task Per_key_order_holds_across_bus_stops_and_restarts_mid_stream_with_the_RabbitMQ_delivery_order()
        {
            var queue = Broker.UniqueQueue("td-restart");
            const int count = 2400, keys = 16, workers = 8;
            var log = new ConsumptionLog();
            await using var provider = new ServiceCollection()
                .AddMetrics()
                .AddSingleton(log)
                .AddMassTransit(x =>
                {
                    x.AddConsumer<RestartWorkConsumer>();
                    x.UsingRabbitMq((context, cfg) =>
                    {
                        Host(cfg);
                        cfg.ReceiveEndpoint(queue, e =>
                        {
                            ThreadDelegateOptions? options = null;
                            e.UseThreadDelegate(context, o =>
                            {
                                o.Key<RestartWork>(m => m.Key);
                                o.Workers = workers;
                                options = o;
                            });
                            Assert.IsType<RabbitMqDeliveryOrder>(options!.DeliveryOrder); // the RabbitMQ endpoint's overload chose it
                            e.ConfigureConsumer<RestartWorkConsumer>(context);
                        });
                    });
                })
                .BuildServiceProvider(true);
            var bus = provider.GetRequiredService<IBusControl>();
            var producer = MassTransit.Bus.Factory.CreateUsingRabbitMq(Host);

            // The consumer's first start declares the queue and its exchange; then the whole stream is sent while it is stopped.
            await bus.StartAsync(TestContext.Current.CancellationToken);
            await bus.StopAsync(TestContext.Current.CancellationToken);
            await producer.StartAsync(TestContext.Current.CancellationToken);
            var next = new Dictionary<string, int>();
            try
            {
                var random = new Random(2024);
                var endpoint = await producer.GetSendEndpoint(new Uri($"exchange:{queue}"));
                for (var i = 0; i < count; i++)
                {
                    var key = "k" + random.Next(keys);
                    var seq = next[key] = next.GetValueOrDefault(key, -1) + 1;
                    await endpoint.Send(new RestartWork(key, seq, random.Next(2, 9)), TestContext.Current.CancellationToken);
                }

                // Consume, stopping and restarting the bus three times while messages are in flight.
                await bus.StartAsync(TestContext.Current.CancellationToken);
                foreach (var quarter in new[] { 1, 2, 3 })
                {
                    await Eventually.True(() => log.Count >= quarter * count / 4, Deadline, () => $"{quarter}/4 consumed ({log.Count} so far)", TimeSpan.FromMilliseconds(1));
                    await bus.StopAsync(TestContext.Current.CancellationToken);
                    Assert.True(log.Count < count, $"the stop at {quarter}/4 came mid-stream ({log.Count} of {count} consumed)");
                    await bus.StartAsync(TestContext.Current.CancellationToken);
                }
                await Eventually.True(() => log.Count >= count, Deadline, () => $"all {count} consumed ({log.Count} so far)");

                // Every message consumed exactly once, each key in send order; nothing left in the queue or moved to _error.
                Assert.Equal(count, log.TimesConsumed.Count);
                Assert.All(log.TimesConsumed, c => Assert.Equal(1, c.Value));
                foreach (var (key, last) in next)
                    Assert.True(log.Of(key).SequenceEqual(Enumerable.Range(0, last + 1)), $"key {key} consumed [{string.Join(",", log.Of(key))}]");
                Assert.Equal(0u, await MessageCountAsync(queue));
                Assert.Equal(0u, await MessageCountAsync(queue + "_error"));
            }
            finally
            {
                await producer.StopAsync(CancellationToken.None);
                await bus.StopAsync(CancellationToken.None);
                await DeleteQueuesAsync(queue, queue + "_error");
            }
        }

        /// <summary>Messages ready in <paramref name="queue"/> (0 when it does not exist).</summary>
        internal static async Task<uint> MessageCountAsync(string queue)
        {
            await using var connection = await Broker.Factory().CreateConnectionAsync();
            await using var channel = await connection.CreateChannelAsync();
            try
            {
                return (await channel.QueueDeclarePassiveAsync(queue)).MessageCount;
            }
            catch (global::RabbitMQ.Client.Exceptions.OperationInterruptedException)
            {
                return 0; // not declared: nothing was ever moved there
            }
        }

        internal static async Task DeleteQueuesAsync(params string[] queues)
        {
            await using var connection = await Broker.Factory().CreateConnectionAsync();
            await using var channel = await connection.CreateChannelAsync();
            foreach (var queue in queues)
            {
                await channel.QueueDeleteAsync(queue, ifUnused: false, ifEmpty: false);
                await channel.ExchangeDeleteAsync(queue, ifUnused: false);
            }
        }
    }
}
