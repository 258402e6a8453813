using System.Collections.Concurrent;
using MassTransit.Patterns.RabbitMQ.QueueDepth;
using MassTransit.Patterns.RabbitMQ.Tests.Accounting;
using MassTransit.Patterns.RabbitMQ.Tests.Supervisor.Messages;
using MassTransit.Patterns.Supervisor;
using MassTransit.Patterns.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client;

namespace MassTransit.Patterns.RabbitMQ.Tests.Supervisor.Messages
{
    public record SupervisedJob(int Number);
}

namespace MassTransit.Patterns.RabbitMQ.Tests.Supervisor
{
    /// <summary>
    /// The supervisor on a real RabbitMQ queue: a burst of 2,000 messages, consumers that take a few
    /// milliseconds each, depth read with the AMQP probe. Concurrency is measured inside the consumer.
    /// </summary>
    public sealed class SupervisorRabbitMqTests
    {
        const int Burst = 2_000, Min = 2, Max = 16, PerConsumer = 50;
        static readonly TimeSpan Work = TimeSpan.FromMilliseconds(25);
        static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(100), Cooldown = TimeSpan.FromMilliseconds(400);

        /// <summary>What the consumer saw: concurrency at each entry, every delivery, redeliveries.</summary>
        public sealed class Observations
        {
            int _current, _peak;
            public readonly ConcurrentDictionary<int, int> Deliveries = new();
            public readonly ConsumedMessages Consumed = new();
            public int Redelivered;

            public int Current => Volatile.Read(ref _current);

            public int Peak => Volatile.Read(ref _peak);

            public int Enter()
            {
                var now = Interlocked.Increment(ref _current);
                int peak;
                while (now > (peak = Volatile.Read(ref _peak)) && Interlocked.CompareExchange(ref _peak, now, peak) != peak)
                {
                }
                return now;
            }

            public void Leave() => Interlocked.Decrement(ref _current);
        }

        public sealed class JobConsumer(Observations observations) : IConsumer<SupervisedJob>
        {
            public async Task Consume(ConsumeContext<SupervisedJob> context)
            {
                observations.Enter();
                try
                {
                    if (context.ReceiveContext.Redelivered)
                        Interlocked.Increment(ref observations.Redelivered);
                    await Task.Delay(Work, context.CancellationToken);
                    observations.Deliveries.AddOrUpdate(context.Message.Number, 1, (_, n) => n + 1);
                    observations.Consumed.Record(context);
                }
                finally
                {
                    observations.Leave();
                }
            }
        }

        sealed record Sample(SupervisorTick Tick, int InConsumer);

        [Fact]
        public async Task A_burst_on_a_real_queue_is_followed_by_concurrency_and_shrinking_in_flight_loses_and_redelivers_nothing()
        {
            var queue = Broker.UniqueQueue("supervised");
            var observations = new Observations();
            await using var provider = new ServiceCollection()
                .AddLogging(l => l.SetMinimumLevel(LogLevel.Warning))
                .AddSingleton(observations)
                .AddConsumerSupervisorRegistry()
                .AddRabbitMqQueueDepthProbe(o =>
                {
                    o.HostName = ServiceEnvironment.RabbitHost;
                    o.Port = ServiceEnvironment.RabbitAmqpPort;
                    o.UserName = ServiceEnvironment.RabbitUser;
                    o.Password = ServiceEnvironment.RabbitPassword;
                })
                .AddMassTransit(x =>
                {
                    x.AddConsumer<JobConsumer>().Endpoint(e => e.Name = queue);
                    x.AddConfigureEndpointsCallback((context, name, cfg) =>
                    {
                        if (name == queue)
                            cfg.UseSupervisor(context, o =>
                            {
                                o.MinConsumers = Min;
                                o.MaxConsumers = Max;
                                o.MessagesPerConsumer = PerConsumer;
                                o.PollInterval = Poll;
                                o.ScaleDownCooldown = Cooldown;
                            });
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

            var bus = provider.GetRequiredService<IBusControl>();
            await bus.StartAsync(TestContext.Current.CancellationToken);
            var samples = new ConcurrentQueue<Sample>();
            try
            {
                var supervisor = provider.GetRequiredService<ConsumerSupervisorRegistry>().Get(queue);
                supervisor.Ticked += t => samples.Enqueue(new Sample(t, observations.Current));
                await Eventually.True(() => supervisor.Ticks > 0, TimeSpan.FromSeconds(10), "the supervisor looks once the endpoint is ready");
                Assert.Equal(Min, supervisor.Limit);

                var endpoint = await bus.GetSendEndpoint(new Uri($"exchange:{queue}"));
                var sends = new List<Task>(Burst);
                for (var i = 0; i < Burst; i++)
                    sends.Add(endpoint.Send(new SupervisedJob(i)));
                await Task.WhenAll(sends);

                // At Max consumers the burst takes Burst * Work / Max = 3.1 s; at Min it would take 25 s. Leave room for both halves.
                await Eventually.True(() => observations.Deliveries.Count == Burst, TimeSpan.FromSeconds(45), "every job consumed", TimeSpan.FromMilliseconds(100));
                await Eventually.True(() => supervisor.Limit == Min, TimeSpan.FromSeconds(10), "back to the minimum after the cool-down");
                await new MessageAccount()
                    .Sent(Burst, "jobs")
                    .Consumed(observations.Consumed, Expect.Exactly(Burst))
                    .Endpoint(queue, Expect.Empty)
                    .AssertAllAccountedAsync(TimeSpan.FromSeconds(15));
            }
            finally
            {
                await bus.StopAsync(CancellationToken.None);
                await DeleteAsync(queue);
            }

            var ticks = samples.ToArray();
            var start = ticks[0].Tick.At;
            foreach (var s in ticks.Where((s, i) => i == 0 || s.Tick.Direction != ScalingDirection.Hold || i % 10 == 0))
                TestContext.Current.TestOutputHelper?.WriteLine(
                    $"{(s.Tick.At - start).TotalSeconds,6:0.00}s depth {s.Tick.Depth,5} limit {s.Tick.PreviousLimit,2}->{s.Tick.Limit,2} active {s.Tick.Active,2} in consumer {s.InConsumer,2}");
            var peakDepth = ticks.Max(s => s.Tick.Depth ?? 0);
            Assert.True(peakDepth >= Max * PerConsumer, $"the burst outran the minimum (peak depth {peakDepth})");

            // Follows depth: the consumers were (nearly) all busy while the queue was deep, never more than the maximum...
            Assert.Contains(ticks, s => s.Tick.Depth >= Max * PerConsumer && s.Tick.Limit == Max && s.InConsumer >= Max * 3 / 4);
            Assert.Equal(Max, observations.Peak);
            Assert.All(ticks, s => Assert.InRange(s.Tick.Limit, Min, Max));
            // ...and fewer consumers as the depth fell, each shrink taken while more messages than the new limit were in flight.
            var downs = ticks.Where(s => s.Tick.Direction == ScalingDirection.Down).ToArray();
            Assert.NotEmpty(downs);
            Assert.Contains(downs, s => s.Tick.Active > s.Tick.Limit && s.Tick.Depth > 0);
            Assert.All(downs, s => Assert.True(s.Tick.Depth * (1 + 0.2) <= s.Tick.PreviousLimit * (long)PerConsumer,
                $"scaled down from {s.Tick.PreviousLimit} at depth {s.Tick.Depth}"));

            // Nothing lost, nothing twice, nothing redelivered.
            Assert.Equal(Burst, observations.Deliveries.Count);
            Assert.All(observations.Deliveries, d => Assert.Equal(1, d.Value));
            Assert.Equal(0, observations.Redelivered);
        }

        static async Task DeleteAsync(string queue)
        {
            await using var connection = await Broker.Factory().CreateConnectionAsync();
            await using var channel = await connection.CreateChannelAsync();
            await channel.QueueDeleteAsync(queue);
            await channel.ExchangeDeleteAsync(queue);
        }
    }
}
