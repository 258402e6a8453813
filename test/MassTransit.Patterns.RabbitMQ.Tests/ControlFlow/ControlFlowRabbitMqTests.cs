using System.Collections.Concurrent;
using System.Diagnostics;
using MassTransit.Patterns.ControlFlow;
using MassTransit.Patterns.QueueDepth;
using MassTransit.Patterns.RabbitMQ.QueueDepth;
using MassTransit.Patterns.RabbitMQ.Tests.Accounting;
using MassTransit.Patterns.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using RabbitMQ.Client;

namespace MassTransit.Patterns.RabbitMQ.Tests.ControlFlow.Messages
{
    public record Reading(int Number);
}

namespace MassTransit.Patterns.RabbitMQ.Tests.ControlFlow
{
    using Messages;

    /// <summary>
    /// A producer three times faster than its consumer, on a real queue: with the flow monitor (in the
    /// consumer's process) and the gate (in the producer's, learning states through the broker), the
    /// depth stays near the high watermark; without them it grows. Nothing is lost.
    /// </summary>
    public sealed class ControlFlowRabbitMqTests
    {
        const int ConsumerWorkMs = 10;          // one consumer, so at most ~100 msg/s
        const int ProducerRatePerSecond = 300;  // three times that
        const long HighWatermark = 300, LowWatermark = 150;
        static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(200);
        static readonly TimeSpan RunFor = TimeSpan.FromSeconds(6);

        sealed class Received
        {
            public readonly ConcurrentDictionary<int, int> Numbers = new();
            public readonly ConsumedMessages Consumed = new();
        }

        sealed class ReadingConsumer(Received received) : IConsumer<Reading>
        {
            public async Task Consume(ConsumeContext<Reading> context)
            {
                await Task.Delay(ConsumerWorkMs);
                received.Numbers.AddOrUpdate(context.Message.Number, 1, (_, n) => n + 1);
                received.Consumed.Record(context);
            }
        }

        static void Host(IBusRegistrationConfigurator x, Action<IBusRegistrationContext, IRabbitMqBusFactoryConfigurator>? configure = null) =>
            x.UsingRabbitMq((context, cfg) =>
            {
                cfg.Host(Broker.BusHost(), h =>
                {
                    h.Username(ServiceEnvironment.RabbitUser);
                    h.Password(ServiceEnvironment.RabbitPassword);
                });
                configure?.Invoke(context, cfg);
                cfg.ConfigureEndpoints(context);
            });

        static Action<RabbitMqProbeOptions> ProbeOptions => o =>
        {
            o.HostName = ServiceEnvironment.RabbitHost;
            o.Port = ServiceEnvironment.RabbitAmqpPort;
            o.UserName = ServiceEnvironment.RabbitUser;
            o.Password = ServiceEnvironment.RabbitPassword;
        };

        /// <summary>Sends at a steady rate for a while, sampling the real depth; returns (sent, peak depth).</summary>
        static async Task<(int Sent, long PeakDepth)> ProduceAsync(IBus producer, string queue, int firstNumber, TimeSpan? runFor = null,
            long? stopAbove = null)
        {
            await using var sampler = new RabbitMqQueueDepthProbe(Options.Create(new RabbitMqProbeOptions()).Configure(ProbeOptions));
            var endpoint = await producer.GetSendEndpoint(new Uri($"exchange:{queue}"));
            long peak = 0;
            using var stop = new CancellationTokenSource();
            var sampling = Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    var ready = (await sampler.GetDepthAsync(queue)).Ready;
                    if (ready > Interlocked.Read(ref peak))
                        Interlocked.Exchange(ref peak, ready);
                    await Task.Delay(50);
                }
            });

            // A steady producer: ten messages every tick of 1/30 s. Time lost while held is not made
            // up with a burst afterwards, as a real producer that was slowed would not either.
            var sent = 0;
            var tick = TimeSpan.FromSeconds(10.0 / ProducerRatePerSecond);
            var watch = Stopwatch.StartNew();
            var next = TimeSpan.Zero;
            while (watch.Elapsed < (runFor ?? RunFor) && !(stopAbove is { } mark && Interlocked.Read(ref peak) > mark))
            {
                for (var i = 0; i < 10; i++, sent++)
                    await endpoint.Send(new Reading(firstNumber + sent));
                next = next + tick > watch.Elapsed ? next + tick : watch.Elapsed;
                var wait = next - watch.Elapsed;
                if (wait > TimeSpan.Zero)
                    await Task.Delay(wait);
            }
            await stop.CancelAsync();
            await sampling;
            peak = Math.Max(peak, (await sampler.GetDepthAsync(queue)).Ready);
            return (sent, peak);
        }

        [Fact]
        public async Task Depth_stays_near_the_high_watermark_while_a_faster_producer_runs_and_nothing_is_lost()
        {
            var queue = Broker.UniqueQueue("flow");
            var received = new Received();

            // The consumer's service: the queue, its consumer, and the flow monitor publishing to the bus.
            using var consumerHost = new HostBuilder()
                .ConfigureServices(s => s
                    .Configure<MassTransitHostOptions>(o => o.WaitUntilStarted = true)
                    .AddSingleton(received)
                    .AddRabbitMqQueueDepthProbe(ProbeOptions)
                    .AddQueueDepthMonitor(o => o.PollInterval = PollInterval)
                    .AddFlowMonitor(o =>
                    {
                        o.Lease = TimeSpan.FromSeconds(3);
                        o.Watch(queue, HighWatermark, LowWatermark);
                    })
                    .AddMassTransit(x =>
                    {
                        x.AddConsumer<ReadingConsumer>().Endpoint(e =>
                        {
                            e.Name = queue;
                            e.ConcurrentMessageLimit = 1;
                            e.PrefetchCount = 1;
                        });
                        Host(x);
                    }))
                .Build();

            // The producer's service: learns flow states from the bus, rate-limits a slowed queue.
            using var producerHost = new HostBuilder()
                .ConfigureServices(s => s.Configure<MassTransitHostOptions>(o => o.WaitUntilStarted = true).AddMassTransit(x =>
                {
                    x.AddProducerControlFlow();
                    Host(x, (context, cfg) => cfg.UseProducerControlFlow(context, o =>
                    {
                        o.WhenSlow = SlowAction.RateLimit;
                        o.SlowRatePerSecond = 40;
                    }));
                }))
                .Build();

            await consumerHost.StartAsync();
            await producerHost.StartAsync();
            try
            {
                var (sent, peak) = await ProduceAsync(producerHost.Services.GetRequiredService<IBus>(), queue, 0);

                // One poll interval of sending (plus the probe's round trip and the statement's trip through the broker).
                var bound = HighWatermark + (long)(ProducerRatePerSecond * (PollInterval.TotalSeconds + 0.1));
                TestContext.Current.TestOutputHelper?.WriteLine($"controlled: sent {sent}, peak depth {peak}, bound {bound}");
                Assert.True(peak <= bound, $"peak depth {peak} within high watermark {HighWatermark} + one poll interval of sending = {bound}");
                Assert.True(peak >= HighWatermark, $"the producer did outrun the consumer (peak {peak})");

                await Eventually.True(() => received.Numbers.Count == sent, TimeSpan.FromSeconds(60),
                    $"every sent message consumed ({received.Numbers.Count} of {sent})", TimeSpan.FromMilliseconds(100));
                Assert.Equal(Enumerable.Range(0, sent), received.Numbers.Keys.Order());
                Assert.All(received.Numbers.Values, n => Assert.Equal(1, n));
                await new MessageAccount()
                    .Sent(sent, "readings")
                    .Consumed(received.Consumed, Expect.Exactly(sent))
                    .Endpoint(queue, Expect.Empty)
                    .AssertAllAccountedAsync(TimeSpan.FromSeconds(15));
            }
            finally
            {
                await producerHost.StopAsync();
                await consumerHost.StopAsync();
                await DeleteAsync(queue);
            }
        }

        [Fact]
        public async Task Without_flow_control_the_same_producer_grows_the_queue_past_that_bound()
        {
            var queue = Broker.UniqueQueue("noflow");
            var received = new Received();
            using var host = new HostBuilder()
                .ConfigureServices(s => s
                    .Configure<MassTransitHostOptions>(o => o.WaitUntilStarted = true)
                    .AddSingleton(received)
                    .AddMassTransit(x =>
                    {
                        x.AddConsumer<ReadingConsumer>().Endpoint(e =>
                        {
                            e.Name = queue;
                            e.ConcurrentMessageLimit = 1;
                            e.PrefetchCount = 1;
                        });
                        Host(x);
                    }))
                .Build();
            await host.StartAsync();
            try
            {
                // The same producer, run until the queue is past twice the controlled bound (or 30 s): on a loaded machine the
                // producer's confirmed sends are slower than 300/s and need longer than the controlled run's 6 s to get there.
                var bound = HighWatermark + (long)(ProducerRatePerSecond * (PollInterval.TotalSeconds + 0.1));
                var (sent, peak) = await ProduceAsync(host.Services.GetRequiredService<IBus>(), queue, 0, TimeSpan.FromSeconds(30), 2 * bound);
                TestContext.Current.TestOutputHelper?.WriteLine($"uncontrolled: sent {sent}, peak depth {peak}, bound {bound}");
                Assert.True(peak > 2 * bound, $"uncontrolled peak depth {peak} is far past {bound}");

                // Stopped: what the consumer did not get to waits in the queue.
                await host.StopAsync();
                await new MessageAccount()
                    .Sent(sent, "readings")
                    .Consumed(received.Consumed, Expect.Any)
                    .Endpoint(queue, Expect.Any)
                    .AssertAllAccountedAsync(TimeSpan.FromSeconds(15));
            }
            finally
            {
                await host.StopAsync();
                await DeleteAsync(queue);
            }
        }

        static async Task DeleteAsync(string queue)
        {
            await using var connection = await Broker.Factory().CreateConnectionAsync();
            await using var channel = await connection.CreateChannelAsync();
            await channel.QueueDeleteAsync(queue);
            await channel.ExchangeDeleteAsync(queue);
        }
    }

    static class OptionsExtensions
    {
        public static IOptions<T> Configure<T>(this IOptions<T> options, Action<T> configure)
            where T : class
        {
            configure(options.Value);
            return options;
        }
    }
}
