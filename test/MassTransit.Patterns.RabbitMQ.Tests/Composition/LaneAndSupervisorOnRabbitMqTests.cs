using System.Diagnostics;
using MassTransit.Patterns.RabbitMQ.Ambulance;
using MassTransit.Patterns.RabbitMQ.QueueDepth;
using MassTransit.Patterns.RabbitMQ.Tests.Accounting;
using MassTransit.Patterns.Supervisor;
using MassTransit.Patterns.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.RabbitMQ.Tests.Composition
{
    using Messages;

    /// <summary>
    /// The ambulance lane beside an endpoint whose concurrency the supervisor follows with the queue's depth, on the real
    /// broker: the supervisor scales the endpoint within [min, max] while a backlog drains, the lane's urgent messages
    /// overtake that backlog (each waits at most for the work in flight), poison messages end in the error queue of the
    /// queue that delivered them, and every message is accounted for.
    /// </summary>
    public sealed class LaneAndSupervisorOnRabbitMqTests
    {
        const int Min = 1, Max = 4, LaneSlots = 2;
        const int Backlog = 400, WorkMs = 40, PoisonEvery = 50;
        const int Urgent = 8, UrgentPoisonEvery = 4;
        static readonly TimeSpan UrgentEvery = TimeSpan.FromMilliseconds(100);

        [Fact]
        public async Task Urgent_messages_overtake_a_supervised_backlog_the_supervisor_stays_within_its_bounds_and_every_message_is_accounted_for()
        {
            var queue = Broker.UniqueQueue("cmp-lane-sup");
            var lane = queue + "_lane";
            var log = new JobLog();
            await using var provider = new ServiceCollection()
                .AddMetrics()
                .AddLogging(l => l.SetMinimumLevel(LogLevel.Warning))
                .AddSingleton(log)
                .AddConsumerSupervisorRegistry()
                .AddRabbitMqQueueDepthProbe(CompositionKit.Probe)
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
                                o.MessagesPerConsumer = 10;
                                o.PollInterval = TimeSpan.FromMilliseconds(100);
                                o.ScaleDownCooldown = TimeSpan.FromMilliseconds(500);
                            });
                    });
                    x.UsingRabbitMq((context, cfg) =>
                    {
                        CompositionKit.Host(cfg);
                        cfg.UseAmbulanceLane(context, a => a.Endpoint(queue, l => l.ConcurrentMessageLimit = LaneSlots));
                        cfg.ConfigureEndpoints(context);
                    });
                })
                .BuildServiceProvider(true);
            var bus = provider.GetRequiredService<IBusControl>();
            await bus.StartAsync(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token);
            try
            {
                var supervisor = provider.GetRequiredService<ConsumerSupervisorRegistry>().Get(queue);
                await Eventually.True(() => supervisor.Ticks > 0, TimeSpan.FromSeconds(30), "the supervisor looks once the endpoint is ready");
                var endpoint = await bus.GetSendEndpoint(new Uri($"exchange:{queue}"));

                var good = new List<Guid>();
                var poison = new List<Guid>();
                var normal = new HashSet<Guid>();
                // The backlog, sent concurrently so that it is there before the supervisor has drained much of it.
                var sends = Enumerable.Range(0, Backlog).Select(async n =>
                {
                    var bad = n % PoisonEvery == PoisonEvery - 1;
                    return (Bad: bad, Id: await CompositionKit.SendAsync(endpoint, new Job("normal", n, bad, WorkMs)));
                }).ToArray();
                foreach (var (bad, id) in await Task.WhenAll(sends))
                {
                    (bad ? poison : good).Add(id);
                    normal.Add(id);
                }

                // Urgent messages a little apart while the backlog drains (the supervisor ramping up meanwhile).
                var urgentGood = new List<(Guid Id, long SentAt, int Waiting)>();
                var urgentPoison = new List<Guid>();
                for (var n = 0; n < Urgent; n++)
                {
                    await Task.Delay(UrgentEvery);
                    var bad = n % UrgentPoisonEvery == UrgentPoisonEvery - 1;
                    var sentAt = Stopwatch.GetTimestamp();
                    var waiting = Backlog - log.Completions.Count(c => normal.Contains(c.Id)) - poison.Count;
                    var id = await CompositionKit.SendAsync(endpoint, new Job("urgent", n, bad, WorkMs), urgent: true);
                    if (bad)
                        urgentPoison.Add(id);
                    else
                        urgentGood.Add((id, sentAt, waiting));
                }

                await new MessageAccount()
                    .Sent(good.Concat(poison).Concat(urgentGood.Select(u => u.Id)).Concat(urgentPoison))
                    .Consumed(log.Consumed, Expect.Ids(good.Concat(urgentGood.Select(u => u.Id))))
                    .Endpoint(queue, Expect.Empty)
                    .Queue(queue + "_error", Expect.Ids(poison))
                    .Queue(lane + "_error", Expect.Ids(urgentPoison))
                    .AssertAllAccountedAsync(TimeSpan.FromSeconds(120));

                // Each good urgent message was read from the lane and overtook the backlog: it started before most of the
                // normal jobs waiting when it was sent (in one queue it would have waited for all of them).
                var completions = log.Completions;
                foreach (var (id, sentAt, waiting) in urgentGood)
                {
                    var done = log.Of(id)!;
                    Assert.Equal(lane, done.Queue);
                    var overtaken = completions.Count(c => normal.Contains(c.Id) && c.At > sentAt && c.At < done.Started);
                    CompositionKit.Print($"urgent {done.Number}: sent with {waiting} good normal jobs waiting, started after " +
                                         $"{Stopwatch.GetElapsedTime(sentAt, done.Started).TotalMilliseconds:0} ms, {overtaken} normal jobs completed meanwhile");
                    Assert.True(waiting >= Backlog / 4, $"urgent job {done.Number} was sent with a backlog to overtake ({waiting} normal jobs waiting)");
                    Assert.True(overtaken <= waiting / 2,
                        $"urgent job {done.Number} waited while {overtaken} of the {waiting} normal jobs waiting at its send completed");
                }

                // Urgent messages arriving together run side by side on the lane's slots.
                var together = new List<Guid>();
                for (var n = 0; n < LaneSlots; n++)
                    together.Add(await CompositionKit.SendAsync(endpoint, new Job("urgent-together", n, false, 1_000), urgent: true));
                await Eventually.True(() => together.All(id => log.Of(id) is not null), TimeSpan.FromSeconds(60), "the urgent jobs sent together consumed");
                var starts = together.Select(id => log.Of(id)!).ToArray();
                CompositionKit.Print($"lane supervisor: {(provider.GetRequiredService<ConsumerSupervisorRegistry>().TryGet(lane, out var ls) ? $"limit {ls.Limit}" : "none")}; " +
                                     $"together: started {Stopwatch.GetElapsedTime(starts.Min(c => c.Started), starts.Max(c => c.Started)).TotalMilliseconds:0} ms apart");
                Assert.True(starts.Max(c => c.Started) < starts.Min(c => c.At), $"the {LaneSlots} urgent jobs sent together ran side by side on the lane's {LaneSlots} slots");

                // The supervisor scaled the endpoint up and stayed within its bounds; the lane within its slots.
                CompositionKit.Print($"peak concurrency: {queue} {log.Peak(queue)}, lane {log.Peak(lane)}; supervisor limit now {supervisor.Limit}");
                Assert.InRange(log.Peak(queue), Min + 1, Max);
                Assert.InRange(log.Peak(lane), 1, LaneSlots);
                await Eventually.True(() => supervisor.Limit == Min, TimeSpan.FromSeconds(30), "back to the minimum after the cool-down");
            }
            finally
            {
                await bus.StopAsync(CancellationToken.None);
                await CompositionKit.DeleteAsync(queue);
            }
        }
    }
}
