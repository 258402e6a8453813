using System.Collections.Concurrent;
using MassTransit.Patterns.RabbitMQ.Tests.Accounting;
using MassTransit.Patterns.RabbitMQ.ThreadDelegate;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.ThreadDelegate;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.RabbitMQ.Tests.ThreadDelegate.Messages
{
    public record OrderedWork(string Key, int Seq, int DelayMs, int TransientFailures);

    public record StripedWork(string Key, int Seq);
}

namespace MassTransit.Patterns.RabbitMQ.Tests.ThreadDelegate
{
    using Messages;

    /// <summary>Completions per key, in completion order, from any consumer in this process.</summary>
    public sealed class CompletionLog
    {
        readonly ConcurrentDictionary<string, List<int>> _byKey = new();
        readonly ConcurrentDictionary<string, ConcurrentDictionary<string, byte>> _consumersByQueue = new();
        int _count;
        int _active;
        public int MaxActive;
        public readonly ConsumedMessages Consumed = new();

        public int Count => Volatile.Read(ref _count);

        public IReadOnlyDictionary<string, ConcurrentDictionary<string, byte>> ConsumersByQueue => _consumersByQueue;

        public void Enter()
        {
            var active = Interlocked.Increment(ref _active);
            int max;
            while (active > (max = Volatile.Read(ref MaxActive)) && Interlocked.CompareExchange(ref MaxActive, active, max) != max)
            {
            }
        }

        public void Leave() => Interlocked.Decrement(ref _active);

        public void Completed(string key, int seq, string? queue = null, string? consumer = null)
        {
            var list = _byKey.GetOrAdd(key, _ => []);
            lock (list)
                list.Add(seq);
            if (queue is not null && consumer is not null)
                _consumersByQueue.GetOrAdd(queue, _ => new ConcurrentDictionary<string, byte>())[consumer] = 0;
            Interlocked.Increment(ref _count);
        }

        public IReadOnlyList<int> Of(string key)
        {
            var list = _byKey.GetOrAdd(key, _ => []);
            lock (list)
                return [.. list];
        }
    }

    public sealed class OrderedWorkConsumer(CompletionLog log) : IConsumer<OrderedWork>
    {
        public async Task Consume(ConsumeContext<OrderedWork> context)
        {
            log.Enter();
            try
            {
                if (context.Message.DelayMs > 0)
                    await Task.Delay(context.Message.DelayMs);
                if (context.GetRetryAttempt() < context.Message.TransientFailures)
                    throw new TimeoutException("transient");
                log.Completed(context.Message.Key, context.Message.Seq);
                log.Consumed.Record(context);
            }
            finally
            {
                log.Leave();
            }
        }
    }

    public sealed class StripedWorkConsumer(CompletionLog log, string instance) : IConsumer<StripedWork>
    {
        public async Task Consume(ConsumeContext<StripedWork> context)
        {
            await Task.Delay(1);
            log.Completed(context.Message.Key, context.Message.Seq, context.ReceiveContext.InputAddress.AbsolutePath, instance);
            log.Consumed.Record(context);
        }
    }

    public sealed class ThreadDelegateOnRabbitMqTests
    {
        static readonly TimeSpan Deadline = TimeSpan.FromSeconds(45);

        static void Host(IRabbitMqBusFactoryConfigurator cfg) =>
            cfg.Host(Broker.BusHost(), h =>
            {
                h.Username(ServiceEnvironment.RabbitUser);
                h.Password(ServiceEnvironment.RabbitPassword);
            });

        [Fact]
        public async Task Per_key_completion_order_equals_send_order_with_prefetch_and_concurrency_above_one()
        {
            var queue = Broker.UniqueQueue("td-order");
            const int workers = 8, maxBuffered = 24, count = 1500;
            var log = new CompletionLog();
            var control = new ThreadDelegateControl();
            await using var provider = new ServiceCollection()
                .AddMetrics()
                .AddSingleton(log)
                .AddMassTransit(x =>
                {
                    x.AddConsumer<OrderedWorkConsumer>();
                    x.UsingRabbitMq((context, cfg) =>
                    {
                        Host(cfg);
                        cfg.ReceiveEndpoint(queue, e =>
                        {
                            e.UseMessageRetry(r => r.Immediate(2));
                            e.UseThreadDelegate(context, o =>
                            {
                                o.Key<OrderedWork>(m => m.Key);
                                o.Workers = workers;
                                o.MaxBuffered = maxBuffered;
                                o.Control = control;
                                o.UseRabbitMqDeliveryOrder();
                            });
                            e.ConfigureConsumer<OrderedWorkConsumer>(context);
                        });
                    });
                })
                .BuildServiceProvider(true);
            var bus = provider.GetRequiredService<IBusControl>();
            await bus.StartAsync();
            try
            {
                var random = new Random(4242);
                var next = new Dictionary<string, int>();
                var endpoint = await bus.GetSendEndpoint(new Uri($"exchange:{queue}"));
                for (var i = 0; i < count; i++)
                {
                    var key = "k" + random.Next(20);
                    var seq = next[key] = next.GetValueOrDefault(key, -1) + 1;
                    await endpoint.Send(new OrderedWork(key, seq, random.Next(4), random.NextDouble() < 0.1 ? 1 : 0));
                }

                await Eventually.True(() => log.Count == count, Deadline, () => $"all {count} consumed ({log.Count} so far)");
                foreach (var (key, last) in next)
                    Assert.True(log.Of(key).SequenceEqual(Enumerable.Range(0, last + 1)), $"key {key} completed [{string.Join(",", log.Of(key))}]");
                Assert.True(log.MaxActive > 1, "keys ran in parallel");
                Assert.True(log.MaxActive <= workers, $"{log.MaxActive} at once with {workers} workers");

                var snapshot = control.Snapshot()[queue];
                Assert.Equal(0, snapshot.Buffered);
                Assert.Equal(0, snapshot.KeysInFlight);
                await new MessageAccount()
                    .Sent(count, "keyed work (some failing once, retried)")
                    .Consumed(log.Consumed, Expect.Exactly(count))
                    .Endpoint(queue, Expect.Empty)
                    .AssertAllAccountedAsync(TimeSpan.FromSeconds(15));
            }
            finally
            {
                await bus.StopAsync();
                await DeleteQueuesAsync(queue);
            }
        }

        [Fact]
        public async Task Stripes_keep_per_key_order_across_two_service_instances_with_one_active_consumer_per_stripe()
        {
            var prefix = Broker.UniqueQueue("td-stripes");
            const int stripes = 3, count = 600;
            var log = new CompletionLog();

            ServiceProvider Instance(string name) => new ServiceCollection()
                .AddMetrics()
                .AddSingleton(log)
                .AddMassTransit(x =>
                {
                    x.UsingRabbitMq((context, cfg) =>
                    {
                        Host(cfg);
                        cfg.UseThreadDelegateStripeRouting<StripedWork>(stripes, m => m.Key);
                        cfg.ThreadDelegateStripeEndpoints<StripedWork>(context, prefix, stripes, m => m.Key,
                            (e, _) => e.Consumer(() => new StripedWorkConsumer(log, name)),
                            o => o.Workers = 4);
                    });
                })
                .BuildServiceProvider(true);

            await using var first = Instance("first");
            await using var second = Instance("second");
            var firstBus = first.GetRequiredService<IBusControl>();
            var secondBus = second.GetRequiredService<IBusControl>();
            await firstBus.StartAsync();
            await secondBus.StartAsync();
            try
            {
                var random = new Random(99);
                var next = new Dictionary<string, int>();
                for (var i = 0; i < count; i++)
                {
                    var key = "account-" + random.Next(12);
                    var seq = next[key] = next.GetValueOrDefault(key, -1) + 1;
                    await firstBus.Publish(new StripedWork(key, seq));
                }

                await Eventually.True(() => log.Count == count, Deadline, () => $"all {count} consumed across the instances ({log.Count} so far)");
                foreach (var (key, last) in next)
                    Assert.True(log.Of(key).SequenceEqual(Enumerable.Range(0, last + 1)), $"key {key} completed [{string.Join(",", log.Of(key))}]");
                Assert.Equal(stripes, log.ConsumersByQueue.Count);
                Assert.All(log.ConsumersByQueue, q => Assert.Single(q.Value)); // one active consumer per stripe
                var account = new MessageAccount().Sent(count, "published").Consumed(log.Consumed, Expect.Exactly(count));
                for (var i = 0; i < stripes; i++)
                    account.Endpoint(RabbitMqThreadDelegateStripes.StripeQueueName(prefix, i), Expect.Empty);
                await account.AssertAllAccountedAsync(TimeSpan.FromSeconds(15));
            }
            finally
            {
                await secondBus.StopAsync();
                await firstBus.StopAsync();
                await DeleteQueuesAsync(Enumerable.Range(0, stripes).Select(i => RabbitMqThreadDelegateStripes.StripeQueueName(prefix, i)).ToArray());
            }
        }

        [Fact]
        public void Stripe_of_a_key_is_the_same_in_every_process()
        {
            // FNV-1a of the key's UTF-16 code units, computed independently: not string.GetHashCode, which differs per process.
            Assert.Equal(0xde230387u, ThreadDelegateHash.Of("account-42"));
            Assert.Equal(5, RabbitMqThreadDelegateStripes.StripeOf("account-42", 7));
        }

        static async Task DeleteQueuesAsync(params string[] queues)
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
