using System.Collections.Concurrent;
using System.Diagnostics;
using HdrHistogram;
using MassTransit.Patterns.Ambulance;
using MassTransit.Patterns.RabbitMQ.Ambulance;
using MassTransit.Patterns.Showcase.Infrastructure;
using MassTransit.Patterns.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client;

namespace MassTransit.Patterns.Showcase.Messages
{
    /// <summary>An order; express orders are urgent (by the bus's predicate).</summary>
    public record ShipOrder(int Number, bool Express, long SentAt);
}

namespace MassTransit.Patterns.Showcase.Scenarios
{
    using Messages;

    /// <summary>
    /// Ambulance lane: a warehouse works through a backlog of standard orders with 8 slow pickers;
    /// express orders arrive afterwards and are picked from the lane, waiting only for the picks in
    /// progress, while the backlog keeps draining at full speed.
    /// </summary>
    public sealed class AmbulanceScenario : IShowcaseScenario
    {
        const int QueueSlots = 6;
        const int LaneSlots = 2;
        static readonly TimeSpan Work = TimeSpan.FromMilliseconds(25);

        public string Name => "ambulance";

        public string Description => "Priority lane: express orders overtake a backlog of standard orders, waiting only for work in flight.";

        public async Task<ResultTable> RunAsync(ShowcaseContext context, CancellationToken cancellationToken)
        {
            var backlog = context.Quick ? 1_000 : 3_000;
            var express = context.Quick ? 20 : 60;
            var queue = $"showcase-ship-{Guid.NewGuid():N}"[..24];
            var stats = new Stats(backlog);
            var rabbit = context.Options.Transport == ShowcaseOptions.RabbitMq;

            await using var provider = new ServiceCollection()
                .AddMetrics()
                .AddLogging(l => l.AddSimpleConsole().SetMinimumLevel(LogLevel.Warning))
                .AddSingleton(stats)
                .AddMassTransit(x =>
                {
                    x.AddConsumer<PickConsumer>().Endpoint(e =>
                    {
                        e.Name = queue;
                        e.ConcurrentMessageLimit = QueueSlots;
                        e.PrefetchCount = 32;
                    });
                    context.UseTransport(x, (registration, cfg) =>
                    {
                        void Lane(AmbulanceConfigurator a)
                        {
                            a.Urgent<ShipOrder>(o => o.Express);
                            a.Endpoint(queue, lane =>
                            {
                                lane.Mode = AmbulanceMode.Ambulance;
                                lane.ConcurrentMessageLimit = LaneSlots;
                            });
                        }

                        if (cfg is IRabbitMqBusFactoryConfigurator rabbitCfg)
                            rabbitCfg.UseAmbulanceLane(registration, Lane);
                        else
                            cfg.UseAmbulanceLane(registration, Lane);
                    });
                })
                .BuildServiceProvider(true);

            var bus = provider.GetRequiredService<IBusControl>();
            await bus.StartAsync(cancellationToken);
            var watch = Stopwatch.StartNew();
            try
            {
                var endpoint = await bus.GetSendEndpoint(new Uri($"exchange:{queue}"));
                // Warm-up: one order through each lane, so that first-message costs (pipes built on first use) are not measured.
                await endpoint.Send(new ShipOrder(-1, false, 0), cancellationToken);
                await endpoint.Send(new ShipOrder(-2, true, 0), cancellationToken);
                await stats.WarmedUp.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);

                await using (new Progress("standard orders queued", backlog, () => stats.Queued))
                {
                    var batch = new List<Task>(128);
                    for (var i = 0; i < backlog; i++)
                    {
                        batch.Add(endpoint.Send(new ShipOrder(i, false, 0), cancellationToken).ContinueWith(_ => stats.Queue(), TaskScheduler.Default));
                        if (batch.Count == batch.Capacity)
                        {
                            await Task.WhenAll(batch);
                            batch.Clear();
                        }
                    }
                    await Task.WhenAll(batch);
                }

                stats.Go();
                await using (new Progress("picked (standard + express)", backlog + express, () => stats.Picked))
                {
                    for (var i = 0; i < express; i++)
                    {
                        await endpoint.Send(new ShipOrder(backlog + i, true, Stopwatch.GetTimestamp()), cancellationToken);
                        await Task.Delay(Work * 2, cancellationToken);
                    }

                    using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                    timeout.CancelAfter(TimeSpan.FromMinutes(2));
                    await stats.AllPicked(backlog + express).WaitAsync(timeout.Token);
                }
            }
            finally
            {
                await bus.StopAsync(CancellationToken.None);
                if (rabbit)
                    await DeleteAsync(queue);
            }
            watch.Stop();

            // An express order waits for a pick in progress to finish (one Work), plus delivery: Work again as
            // slack. Behind the backlog it would wait for the whole drain.
            var bound = (Work * 2).TotalMilliseconds;
            var withinBound = stats.ExpressWaitsMs.Count(w => w <= bound);
            var drainMs = stats.LastStandardWait.TotalMilliseconds;
            var waits = stats.ExpressWaits;
            var duplicates = stats.Duplicates;
            return new ResultTable($"ambulance: express orders through a lane on {context.Options.Transport}")
                .Add("standard orders (backlog)", backlog)
                .Add("express orders", express)
                .Add("pick time (ms)", Work.TotalMilliseconds)
                .Add("pickers", $"{QueueSlots} + {LaneSlots} lane slots (ambulance mode)")
                .Add("express wait p50 (ms)", waits.GetValueAtPercentile(50) / 1000.0)
                .Add("express wait p99 (ms)", waits.GetValueAtPercentile(99) / 1000.0)
                .Add("express wait max (ms)", waits.GetMaxValue() / 1000.0)
                .Add("backlog drain time (s): the wait behind it without a lane", stats.LastStandardWait.TotalSeconds)
                .Add("standard orders left when the last express was picked", backlog - stats.StandardPickedAtLastExpress)
                .Add("standard throughput (orders/s)", stats.StandardPerSecond)
                .Check("every express order was picked from the lane", stats.ExpressFromLane == express)
                .Add($"express waits within the in-flight bound ({bound:0} ms)", $"{withinBound}/{express}")
                .Check("express orders overtook the backlog", stats.StandardPickedAtLastExpress < backlog)
                .Check("express waits did not grow with the backlog (p99 < 1/10 of the drain time)", waits.GetValueAtPercentile(99) / 1000.0 < drainMs / 10)
                .Check("every order picked exactly once (lane copies dropped)", duplicates == 0 && stats.Picked == backlog + express);
        }

        static async Task DeleteAsync(string queue)
        {
            var factory = new ConnectionFactory
            {
                HostName = ServiceEnvironment.RabbitHost,
                Port = ServiceEnvironment.RabbitAmqpPort,
                UserName = ServiceEnvironment.RabbitUser,
                Password = ServiceEnvironment.RabbitPassword
            };
            await using var connection = await factory.CreateConnectionAsync();
            await using var channel = await connection.CreateChannelAsync();
            var lane = queue + AmbulanceLaneOptions.DefaultSuffix;
            foreach (var name in new[] { queue, lane })
                await channel.QueueDeleteAsync(name);
            foreach (var name in new[] { queue, lane, lane + ".urgent" })
                await channel.ExchangeDeleteAsync(name);
        }

        public sealed class Stats(int backlog)
        {
            readonly TaskCompletionSource _go = new(TaskCreationOptions.RunContinuationsAsynchronously);
            readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
            readonly LongConcurrentHistogram _express = new(1, TimeSpan.FromMinutes(5).Ticks / 10, 3);
            readonly ConcurrentDictionary<int, byte> _seen = new();
            long _goAt;
            long _lastStandardAt;
            long _queued;
            long _picked;
            long _standardPicked;
            long _standardAtLastExpress;
            int _expressFromLane;
            int _duplicates;
            int _target = int.MaxValue;

            public long Queued => Interlocked.Read(ref _queued);

            public long Picked => Interlocked.Read(ref _picked);

            public HistogramBase ExpressWaits => _express;

            readonly ConcurrentQueue<double> _expressMs = new();

            public IReadOnlyCollection<double> ExpressWaitsMs => _expressMs;

            public int ExpressFromLane => Volatile.Read(ref _expressFromLane);

            public int Duplicates => Volatile.Read(ref _duplicates);

            public long StandardPickedAtLastExpress => Interlocked.Read(ref _standardAtLastExpress);

            public TimeSpan LastStandardWait => TimeSpan.FromSeconds((double)(_lastStandardAt - _goAt) / Stopwatch.Frequency);

            public double StandardPerSecond => backlog / LastStandardWait.TotalSeconds;

            public Task Started => _go.Task;

            readonly TaskCompletionSource _warm = new(TaskCreationOptions.RunContinuationsAsynchronously);
            int _warmed;

            public Task WarmedUp => _warm.Task;

            public void Warm()
            {
                if (Interlocked.Increment(ref _warmed) == 2)
                    _warm.TrySetResult();
            }

            public void Queue() => Interlocked.Increment(ref _queued);

            public void Go()
            {
                _goAt = Stopwatch.GetTimestamp();
                _go.SetResult();
            }

            public void Start(ShipOrder order, bool fromLane)
            {
                if (!_seen.TryAdd(order.Number, 0))
                    Interlocked.Increment(ref _duplicates);
                if (!order.Express)
                    return;
                var waited = Stopwatch.GetElapsedTime(order.SentAt);
                _express.RecordValue(Math.Max(1, (long)waited.TotalMicroseconds));
                _expressMs.Enqueue(waited.TotalMilliseconds);
                if (fromLane)
                    Interlocked.Increment(ref _expressFromLane);
                Interlocked.Exchange(ref _standardAtLastExpress, Interlocked.Read(ref _standardPicked));
            }

            public void Done(ShipOrder order)
            {
                if (!order.Express && Interlocked.Increment(ref _standardPicked) == backlog)
                    _lastStandardAt = Stopwatch.GetTimestamp();
                if (Interlocked.Increment(ref _picked) >= Volatile.Read(ref _target))
                    _done.TrySetResult();
            }

            public Task AllPicked(int target)
            {
                Volatile.Write(ref _target, target);
                if (Picked >= target)
                    _done.TrySetResult();
                return _done.Task;
            }
        }

        sealed class PickConsumer(Stats stats) : IConsumer<ShipOrder>
        {
            public async Task Consume(ConsumeContext<ShipOrder> context)
            {
                if (context.Message.Number < 0)
                {
                    stats.Warm();
                    return;
                }
                await stats.Started;
                var fromLane = context.ReceiveContext.InputAddress.AbsolutePath.EndsWith(AmbulanceLaneOptions.DefaultSuffix, StringComparison.Ordinal);
                stats.Start(context.Message, fromLane);
                await Task.Delay(Work, context.CancellationToken);
                stats.Done(context.Message);
            }
        }
    }
}
