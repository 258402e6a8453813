using System.Collections.Concurrent;
using MassTransit.Patterns.Ambulance;
using MassTransit.Patterns.Diagnostics;
using MassTransit.Patterns.RabbitMQ.Ambulance;
using MassTransit.Patterns.RabbitMQ.Tests.Accounting;
using MassTransit.Patterns.Testing;
using MassTransit.Testing;
using MassTransit.Transports;
using Microsoft.Extensions.DependencyInjection;
using RabbitMQ.Client;

namespace MassTransit.Patterns.RabbitMQ.Tests.Ambulance.Messages
{
    public record Work(int Number);

    public record Alert(int Number);
}

namespace MassTransit.Patterns.RabbitMQ.Tests.Ambulance
{
    using Messages;

    /// <summary>
    /// The lane on the real broker: a normal backlog of 5,000 messages behind slow consumers, and
    /// urgent messages sent after it that must not wait for the backlog, only for work in flight.
    /// </summary>
    public sealed class AmbulanceLaneOnRabbitMqTests
    {
        /// <summary>The configured processing time of every message.</summary>
        static readonly TimeSpan Work = TimeSpan.FromMilliseconds(250);

        const int Backlog = 5_000;
        const int QueueConcurrency = 4;
        const int QueuePrefetch = 50;

        public sealed class Log
        {
            public readonly ConsumedMessages Consumed = new();
            public readonly ConcurrentQueue<(int Number, bool Lane, TimeSpan Waited, long NormalDoneBefore)> Urgent = new();
            long _normalDone;
            long _normalStarted;
            long _maxNormalInFlight;
            long _urgentDone;

            public long UrgentDone => Interlocked.Read(ref _urgentDone);

            public void UrgentEnd() => Interlocked.Increment(ref _urgentDone);

            public long NormalDone => Interlocked.Read(ref _normalDone);

            public long NormalStarted => Interlocked.Read(ref _normalStarted);

            /// <summary>The most normal messages ever in flight at once (a message's end is counted before its slot takes the next).</summary>
            public long MaxNormalInFlight => Interlocked.Read(ref _maxNormalInFlight);

            public void NormalStart()
            {
                var inFlight = Interlocked.Increment(ref _normalStarted) - Interlocked.Read(ref _normalDone);
                for (var max = Interlocked.Read(ref _maxNormalInFlight); inFlight > max; max = Interlocked.Read(ref _maxNormalInFlight))
                    if (Interlocked.CompareExchange(ref _maxNormalInFlight, inFlight, max) == max)
                        break;
            }

            public void NormalEnd() => Interlocked.Increment(ref _normalDone);
        }

        public sealed class SlowConsumer(Log log) : IConsumer<Work>
        {
            public async Task Consume(ConsumeContext<Work> context)
            {
                if (context.IsUrgent())
                {
                    var waited = DateTime.UtcNow - (context.SentTime ?? DateTime.UtcNow);
                    var lane = context.ReceiveContext.InputAddress.GetEndpointName()!.EndsWith(AmbulanceLaneOptions.DefaultSuffix, StringComparison.Ordinal);
                    log.Urgent.Enqueue((context.Message.Number, lane, waited, log.NormalDone));
                    await Task.Delay(Work, context.CancellationToken);
                    log.Consumed.Record(context);
                    log.UrgentEnd();
                    return;
                }
                log.NormalStart();
                await Task.Delay(Work, context.CancellationToken);
                log.Consumed.Record(context);
                log.NormalEnd();
            }
        }

        static async Task<(ServiceProvider Provider, ITestHarness Harness, Log Log)> StartAsync(string queue, AmbulanceMode mode)
        {
            var log = new Log();
            var provider = new ServiceCollection()
                .AddMetrics()
                .AddSingleton(log)
                .AddMassTransitTestHarness(x =>
                {
                    x.SetTestTimeouts(testTimeout: TimeSpan.FromSeconds(60));
                    x.AddConsumer<SlowConsumer>().Endpoint(e =>
                    {
                        e.Name = queue;
                        e.ConcurrentMessageLimit = QueueConcurrency;
                        e.PrefetchCount = QueuePrefetch;
                    });
                    x.UsingRabbitMq((context, cfg) =>
                    {
                        cfg.Host(Broker.BusHost(), h =>
                        {
                            h.Username(ServiceEnvironment.RabbitUser);
                            h.Password(ServiceEnvironment.RabbitPassword);
                        });
                        cfg.UseAmbulanceLane(context, a => a.Endpoint(queue, lane =>
                        {
                            lane.Mode = mode;
                            lane.ConcurrentMessageLimit = 1;
                        }));
                        cfg.ConfigureEndpoints(context);
                    });
                })
                .BuildServiceProvider(true);
            var harness = provider.GetRequiredService<ITestHarness>();
            await harness.Start();
            return (provider, harness, log);
        }

        static async Task SendBacklogAsync(ISendEndpoint endpoint)
        {
            var batch = new List<Task>(200);
            for (var i = 0; i < Backlog; i++)
            {
                batch.Add(endpoint.Send(new Work(i)));
                if (batch.Count == batch.Capacity)
                {
                    await Task.WhenAll(batch);
                    batch.Clear();
                }
            }
            await Task.WhenAll(batch);
        }

        static async Task<IReadOnlyList<(int Number, bool Lane, TimeSpan Waited, long NormalDoneBefore)>> SendUrgentOneByOneAsync(ISendEndpoint endpoint, Log log, int count)
        {
            // One at a time, each after the previous one is done, so that no urgent message waits for another.
            for (var i = 0; i < count; i++)
            {
                await endpoint.Send(new Work(100_000 + i), ctx => ctx.SetUrgent());
                var expected = i + 1;
                await Eventually.True(() => log.UrgentDone == expected, TimeSpan.FromSeconds(15), $"urgent message {expected} consumed");
            }
            var result = log.Urgent.ToArray();
            TestContext.Current.TestOutputHelper?.WriteLine(string.Join(", ", result.Select(u => $"urgent {u.Number}: waited {u.Waited.TotalMilliseconds:0} ms, lane {u.Lane}, normal done before {u.NormalDoneBefore}")));
            return result;
        }

        /// <summary>
        /// Every message of the run, once the bus has stopped: consumed (the urgent ones from the lane, each once), the
        /// backlog left in the queue with the fork's lane copies of the urgent ones (dropped there when reached), nothing in
        /// the lane, _error or _skipped.
        /// </summary>
        static Task AssertAccountedAsync(string queue, Log log, InstrumentCount dropped, int urgent) =>
            new MessageAccount()
                .Sent(Backlog, "backlog")
                .Sent(urgent, "urgent")
                .Copied(urgent, "the fork's lane copy of each urgent message, in the queue until it is dropped there")
                .Consumed(log.Consumed, Expect.Any)
                .Place("lane copies dropped at the queue", () => dropped.Count, Expect.Between(0, urgent))
                .Endpoint(queue, Expect.Any)
                .AssertAllAccountedAsync(TimeSpan.FromSeconds(30));

        static async Task DeleteAsync(string queue)
        {
            await using var connection = await Broker.Factory().CreateConnectionAsync();
            await using var channel = await connection.CreateChannelAsync();
            var lane = queue + AmbulanceLaneOptions.DefaultSuffix;
            foreach (var name in new[] { queue, lane, queue + "_error", lane + "_error", queue + "_skipped", lane + "_skipped" })
                await channel.QueueDeleteAsync(name);
            foreach (var name in new[] { queue, lane, lane + ".urgent", queue + "_error", lane + "_error", queue + "_skipped", lane + "_skipped" })
                await channel.ExchangeDeleteAsync(name);
        }

        [Fact]
        public async Task In_ambulance_mode_urgent_messages_overtake_a_backlog_of_5000_and_wait_at_most_for_the_work_in_flight()
        {
            var queue = Broker.UniqueQueue("amb-lane");
            using var dropped = new InstrumentCount(AmbulanceMetrics.LaneCopiesName, PatternsTags.Queue, queue);
            var (provider, harness, log) = await StartAsync(queue, AmbulanceMode.Ambulance);
            try
            {
                var endpoint = await harness.Bus.GetSendEndpoint(new Uri($"exchange:{queue}"));
                await SendBacklogAsync(endpoint);
                // The lane's idle slot is lent to the backlog: all five slots run normal work.
                await Eventually.True(() => log.NormalStarted - log.NormalDone == QueueConcurrency + 1, TimeSpan.FromSeconds(15),
                    "normal work on the queue's four slots and the lane's idle one");

                var urgent = await SendUrgentOneByOneAsync(endpoint, log, 5);

                // Each urgent message waited for one message in flight to finish (at most Work), plus delivery:
                // the bound is Work for the work in flight and twice Work as slack for the broker and a 2-core
                // machine running other test processes (one run measured 551 ms under such load). The backlog
                // ahead of it in the queue would have cost Backlog * Work / 5 = 250 s, 330 times the bound.
                var bound = Work + 2 * Work;
                Assert.All(urgent, u => Assert.True(u.Lane, $"urgent {u.Number} consumed from the lane"));
                Assert.All(urgent, u => Assert.True(u.Waited <= bound, $"urgent {u.Number} waited {u.Waited.TotalMilliseconds:0} ms, bound {bound.TotalMilliseconds:0} ms"));
                Assert.True(urgent.Max(u => u.NormalDoneBefore) < Backlog / 10, "the urgent messages were processed long before the backlog drained");
                // The lane's idle slot was lent to normal work: what carpool mode's test reads to show it never is.
                Assert.Equal(QueueConcurrency + 1, log.MaxNormalInFlight);
                await harness.Stop();
                await AssertAccountedAsync(queue, log, dropped, urgent.Count);
            }
            finally
            {
                await harness.Stop();
                await provider.DisposeAsync();
                await DeleteAsync(queue);
            }
        }

        [Fact]
        public async Task In_carpool_mode_an_urgent_message_never_waits_for_normal_work()
        {
            var queue = Broker.UniqueQueue("amb-carpool");
            using var dropped = new InstrumentCount(AmbulanceMetrics.LaneCopiesName, PatternsTags.Queue, queue);
            var (provider, harness, log) = await StartAsync(queue, AmbulanceMode.Carpool);
            try
            {
                var endpoint = await harness.Bus.GetSendEndpoint(new Uri($"exchange:{queue}"));
                await SendBacklogAsync(endpoint);
                await Eventually.True(() => log.NormalStarted - log.NormalDone == QueueConcurrency, TimeSpan.FromSeconds(15),
                    "normal work on the queue's four slots");

                var urgent = await SendUrgentOneByOneAsync(endpoint, log, 5);

                // The lane's slot is never lent: normal work never ran on more than the queue's own slots, so the lane's was
                // free for each urgent message, which waited for no normal message. What it waited is delivery and
                // scheduling: well under one Work on a quiet machine (4-9 ms), under 3 x Work on a loaded 2-core one
                // (388 ms seen at load average 9, with the lane's slot free all along).
                Assert.All(urgent, u => Assert.True(u.Lane, $"urgent {u.Number} consumed from the lane"));
                Assert.True(log.MaxNormalInFlight <= QueueConcurrency, $"normal work ran on the lane's slot: {log.MaxNormalInFlight} at once");
                var bound = Work + 2 * Work;
                Assert.All(urgent, u => Assert.True(u.Waited < bound, $"urgent {u.Number} waited {u.Waited.TotalMilliseconds:0} ms, bound {bound.TotalMilliseconds:0} ms"));
                await harness.Stop();
                await AssertAccountedAsync(queue, log, dropped, urgent.Count);
            }
            finally
            {
                await harness.Stop();
                await provider.DisposeAsync();
                await DeleteAsync(queue);
            }
        }
    }
}
