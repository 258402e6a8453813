using System.Diagnostics;
using MassTransit.Patterns.ControlFlow;
using MassTransit.Patterns.QueueDepth;
using MassTransit.Patterns.RabbitMQ.Ambulance;
using MassTransit.Patterns.RabbitMQ.QueueDepth;
using MassTransit.Patterns.RabbitMQ.Tests.Accounting;
using MassTransit.Patterns.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.RabbitMQ.Tests.Composition
{
    using Messages;

    /// <summary>
    /// Producer control flow and the ambulance lane on one queue, on the real broker: producers outrun the consumer and are
    /// throttled by the queue's depth, yet an urgent message still reaches the lane and overtakes the backlog (it is bound
    /// for the lane, not for the deep queue); nothing is dropped or refused, poison messages end in the error queue of the
    /// queue that delivered them, and every message is accounted for.
    /// </summary>
    public sealed class ControlFlowAndLaneOnRabbitMqTests
    {
        const int QueueSlots = 2, LaneSlots = 2, WorkMs = 100, Producers = 4;
        const long High = 20, Low = 5, Stop = 60;
        const int Urgent = 4, UrgentPoisonAt = 2, NormalPoisonEvery = 25;

        /// <summary>How the producers are held back once the queue is deep.</summary>
        public enum Throttle
        {
            /// <summary>Slowed: rate-limited (the default action) past the high watermark.</summary>
            RateLimited,

            /// <summary>Stopped past the stop mark: producers wait (the default action) until the queue is back under the high watermark.</summary>
            Stopped
        }

        [Theory]
        [InlineData(Throttle.RateLimited)]
        [InlineData(Throttle.Stopped)]
        public async Task Urgent_messages_overtake_the_backlog_while_producers_are_throttled_and_nothing_is_dropped(Throttle throttle)
        {
            var queue = Broker.UniqueQueue("cmp-flow-lane");
            var lane = queue + "_lane";
            var log = new JobLog();
            using var host = new HostBuilder().ConfigureServices(services => services
                    .Configure<MassTransitHostOptions>(o => o.WaitUntilStarted = true)
                    .AddLogging(l => l.SetMinimumLevel(LogLevel.Warning))
                    .AddSingleton(log)
                    .AddRabbitMqQueueDepthProbe(CompositionKit.Probe)
                    .AddQueueDepthMonitor(o => o.PollInterval = TimeSpan.FromMilliseconds(100))
                    .AddFlowMonitor(o =>
                    {
                        o.PublishToBus = false; // the producers are in this process: fed directly
                        o.Watch(queue, High, Low, throttle == Throttle.Stopped ? Stop : null);
                    })
                    .AddMassTransit(x =>
                    {
                        x.AddConsumer<JobConsumer>().Endpoint(e =>
                        {
                            e.Name = queue;
                            e.ConcurrentMessageLimit = QueueSlots;
                        });
                        x.UsingRabbitMq((context, cfg) =>
                        {
                            CompositionKit.Host(cfg);
                            cfg.UseProducerControlFlow(context, o =>
                            {
                                o.WhenSlow = SlowAction.RateLimit;
                                o.SlowRatePerSecond = 60; // faster than the consumer: the queue keeps growing while slowed
                                o.WhenStopped = StopAction.Wait;
                                o.MaxWait = TimeSpan.FromSeconds(90);
                            });
                            cfg.UseAmbulanceLane(context, a => a.Endpoint(queue, l => l.ConcurrentMessageLimit = LaneSlots));
                            cfg.ConfigureEndpoints(context);
                        });
                    }))
                .Build();
            await host.StartAsync(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token);
            try
            {
                var bus = host.Services.GetRequiredService<IBus>();
                var flow = host.Services.GetRequiredService<FlowControlStateStore>();
                var endpoint = await bus.GetSendEndpoint(new Uri($"exchange:{queue}"));

                // Producers send normal jobs as fast as flow control lets them, until told to stop.
                var normal = new System.Collections.Concurrent.ConcurrentDictionary<Guid, bool>(); // id -> poison
                var sentNormal = 0;
                var stopProducing = false;
                var producers = Enumerable.Range(0, Producers).Select(p => Task.Run(async () =>
                {
                    for (var n = 0; !Volatile.Read(ref stopProducing); n++)
                    {
                        var number = p * 100_000 + n;
                        var poison = number % NormalPoisonEvery == NormalPoisonEvery - 1;
                        normal[await CompositionKit.SendAsync(endpoint, new Job("normal", number, poison, WorkMs))] = poison;
                        Interlocked.Increment(ref sentNormal);
                    }
                })).ToArray();

                var held = throttle == Throttle.Stopped ? FlowState.Stop : FlowState.Slow;
                await Eventually.True(() => flow.Get(queue).State == held, TimeSpan.FromSeconds(60), $"the producers are {held}", TimeSpan.FromMilliseconds(20));

                // Urgent jobs, one at a time, while the producers are held back.
                var urgentGood = new List<(Guid Id, long SentAt, int Waiting, FlowState State)>();
                var urgentPoison = new List<Guid>();
                for (var n = 0; n < Urgent; n++)
                {
                    var state = flow.Get(queue).State;
                    var waiting = Volatile.Read(ref sentNormal) - log.Completions.Count(c => c.Key == "normal");
                    var sentAt = Stopwatch.GetTimestamp();
                    var id = await CompositionKit.SendAsync(endpoint, new Job("urgent", n, n == UrgentPoisonAt, WorkMs), urgent: true);
                    CompositionKit.Print($"urgent {n}: the send call took {Stopwatch.GetElapsedTime(sentAt).TotalMilliseconds:0} ms (producers {state}, {waiting} normal jobs waiting)");
                    if (n == UrgentPoisonAt)
                        urgentPoison.Add(id);
                    else
                    {
                        urgentGood.Add((id, sentAt, waiting, state));
                        await Eventually.True(() => log.Of(id) is not null, TimeSpan.FromSeconds(90), $"urgent job {n} consumed", TimeSpan.FromMilliseconds(20));
                    }
                }

                Volatile.Write(ref stopProducing, true);
                await Task.WhenAll(producers); // none refused: every send returned
                var normalGood = normal.Where(n => !n.Value).Select(n => n.Key).ToList();
                var normalPoison = normal.Where(n => n.Value).Select(n => n.Key).ToList();

                await new MessageAccount()
                    .Sent(normal.Keys.Concat(urgentGood.Select(u => u.Id)).Concat(urgentPoison))
                    .Consumed(log.Consumed, Expect.Ids(normalGood.Concat(urgentGood.Select(u => u.Id))))
                    .Endpoint(queue, Expect.Empty)
                    // A short run (the producers stopped early) may send no normal poison job: then no _error queue exists.
                    .Queue(queue + "_error", normalPoison.Count > 0 ? Expect.Ids(normalPoison) : Expect.Empty)
                    .Queue(lane + "_error", Expect.Ids(urgentPoison))
                    .AssertAllAccountedAsync(TimeSpan.FromSeconds(180));

                // Each good urgent job was read from the lane and overtook the backlog its producer found: it started before
                // most of the normal jobs waiting when it was sent had completed (bound for the deep queue, it would wait for them).
                var completions = log.Completions;
                foreach (var (id, sentAt, waiting, state) in urgentGood)
                {
                    var done = log.Of(id)!;
                    var overtaken = completions.Count(c => c.Key == "normal" && c.At > sentAt && c.At < done.Started);
                    CompositionKit.Print($"urgent {done.Number}: producers {state}, sent with {waiting} normal jobs waiting, started after " +
                                         $"{Stopwatch.GetElapsedTime(sentAt, done.Started).TotalMilliseconds:0} ms from {done.Queue}, {overtaken} normal jobs completed meanwhile");
                    Assert.Equal(lane, done.Queue);
                    Assert.True(waiting >= High, $"urgent job {done.Number} was sent with a backlog to overtake ({waiting} normal jobs waiting)");
                    Assert.True(overtaken <= waiting / 2,
                        $"urgent job {done.Number} (producers {state}) waited while {overtaken} of the {waiting} normal jobs waiting at its send completed");
                }
                CompositionKit.Print($"{normal.Count} normal jobs sent by {Producers} producers, peak depth held by flow control; peak concurrency {log.Peak(queue)} + lane {log.Peak(lane)}");
            }
            finally
            {
                await host.StopAsync(CancellationToken.None);
                await CompositionKit.DeleteAsync(queue);
            }
        }
    }
}
