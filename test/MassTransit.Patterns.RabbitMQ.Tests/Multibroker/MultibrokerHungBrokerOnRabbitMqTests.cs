using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using MassTransit.Patterns.Diagnostics;
using MassTransit.Patterns.Multibroker;
using MassTransit.Patterns.RabbitMQ.Tests.EventForwarding;
using MassTransit.Patterns.Testing;

namespace MassTransit.Patterns.RabbitMQ.Tests.Multibroker;

using Messages;

/// <summary>
/// Three real brokers, one a throwaway node of this test frozen with kill -STOP for 10 s (TCP open,
/// nothing answers: a hung broker, not a dead one) while 200 sends a second go round-robin. The shared
/// nodes are never frozen.
/// </summary>
public sealed class MultibrokerHungBrokerOnRabbitMqTests(ITestOutputHelper output)
{
    const string Victim = "frozen";
    static readonly TimeSpan Freeze = TimeSpan.FromSeconds(10);
    static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(5);   // 200 sends a second

    /// <summary>
    /// From the multibroker's own counters: when the victim left and rejoined the rotation, and the
    /// attempts made beyond the first of each message (hedges and failovers) on this test's brokers,
    /// named apart from other tests running in the same process.
    /// </summary>
    sealed class RotationEvents : IDisposable
    {
        readonly MeterListener _listener = new();
        readonly Stopwatch _clock;
        long _extraAttempts;

        public RotationEvents(Stopwatch clock, IReadOnlySet<string> brokers)
        {
            _clock = clock;
            _listener.InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == PatternsDiagnostics.Name && instrument.Name is "masstransit.patterns.multibroker.ejections"
                        or "masstransit.patterns.multibroker.rejoined" or "masstransit.patterns.multibroker.hedges" or "masstransit.patterns.multibroker.failovers")
                    l.EnableMeasurementEvents(instrument);
            };
            _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
            {
                foreach (var tag in tags)
                {
                    if (tag.Key != "masstransit.patterns.multibroker.broker" || tag.Value is not string broker || !brokers.Contains(broker))
                        continue;
                    if (instrument.Name.EndsWith("hedges", StringComparison.Ordinal) || instrument.Name.EndsWith("failovers", StringComparison.Ordinal))
                        Interlocked.Add(ref _extraAttempts, value);
                    else if (broker == Victim)
                        (instrument.Name.EndsWith("rejoined", StringComparison.Ordinal) ? Rejoined : Left).Enqueue(_clock.Elapsed);
                }
            });
            _listener.Start();
        }

        public ConcurrentQueue<TimeSpan> Left { get; } = new();

        public ConcurrentQueue<TimeSpan> Rejoined { get; } = new();

        /// <summary>Hedges and failovers: each one a second copy of a message that may have reached a broker.</summary>
        public long ExtraAttempts => Interlocked.Read(ref _extraAttempts);

        public void Dispose() => _listener.Dispose();
    }

    [Fact]
    public async Task A_frozen_broker_costs_no_send_more_than_a_second_stays_out_until_it_answers_loses_nothing_and_rejoins_after_the_thaw()
    {
        Assert.True(ServiceEnvironment.RabbitAmqpPorts.Length >= 2, "needs the shared nodes: eval \"$(build/services.sh start --rabbit-nodes 3)\"");
        var clock = Stopwatch.StartNew();
        var brokers = new[] { TestBroker.Shared(0) with { Name = "hung-test-0" }, TestBroker.Shared(1) with { Name = "hung-test-1" } };
        using var rotation = new RotationEvents(clock, brokers.Select(b => b.Name).Append(Victim).ToHashSet());
        await using var node = await ThrowawayRabbitNode.StartAsync();
        var victim = new TestBroker(Victim, node.AmqpPort, node.UserName, node.Password);
        await using var kit = await MultibrokerRabbitKit.StartAsync([.. brokers, victim], x =>
        {
            // A send may wait 3 s on one broker before it fails over; everything else is the default.
            x.Options.SendTimeout = TimeSpan.FromSeconds(3);
        }, concurrency: 8);
        var frozenBroker = kit.Multibroker.Brokers.Single(b => b.Name == Victim);
        var endpoint = await kit.Multibroker.GetSendEndpoint(kit.Address);

        // The producer: one send every 5 ms, not waiting for the previous ones; each send's start and latency recorded.
        var confirmed = new ConcurrentDictionary<Guid, int>();
        var sends = new ConcurrentQueue<(TimeSpan Start, TimeSpan Latency, bool Failed)>();
        var failures = new ConcurrentQueue<Exception>();
        using var stopProducing = new CancellationTokenSource();
        var inFlight = new ConcurrentDictionary<Task, byte>();
        var number = 0;
        var producer = Task.Run(async () =>
        {
            using var timer = new PeriodicTimer(Interval);
            while (await timer.WaitForNextTickAsync(CancellationToken.None) && !stopProducing.IsCancellationRequested)
            {
                var n = number++;
                var id = NewId.NextGuid();
                var start = clock.Elapsed;
                var send = Task.Run(async () =>
                {
                    try
                    {
                        await endpoint.Send(new Shipment("c" + n, n), Pipe.Execute<SendContext<Shipment>>(c => c.MessageId = id));
                        confirmed[id] = n;
                        sends.Enqueue((start, clock.Elapsed - start, false));
                    }
                    catch (Exception e)
                    {
                        failures.Enqueue(e);
                        sends.Enqueue((start, clock.Elapsed - start, true));
                    }
                });
                inFlight[send] = 0;
                _ = send.ContinueWith(t => inFlight.TryRemove(t, out _), TaskScheduler.Default);
            }
        });

        try
        {
            await Eventually.True(() => frozenBroker.Sent >= 200, TimeSpan.FromSeconds(30), "the victim confirms its share before the freeze");
            TimeSpan frozenAt, thawedAt;
            await using (var frozen = FrozenNode.FreezeListener(node.AmqpPort, "throwaway node"))
            {
                frozenAt = clock.Elapsed;
                output.WriteLine($"froze the victim at {frozenAt.TotalSeconds:0.0}s after {frozenBroker.Sent} confirmed by it");
                await Task.Delay(Freeze, TestContext.Current.CancellationToken);
                thawedAt = clock.Elapsed;
                output.WriteLine($"thawing at {thawedAt.TotalSeconds:0.0}s: victim {frozenBroker.State} ({frozenBroker.LastFailure})");
            }

            // After the thaw the victim rejoins (once a probe gets through) and takes its share again.
            await Eventually.True(() => frozenBroker.State == BrokerState.Healthy, TimeSpan.FromSeconds(60), "the thawed broker rejoins", TimeSpan.FromMilliseconds(50));
            var rejoinedAt = clock.Elapsed;
            var sentBefore = frozenBroker.Sent;
            await Eventually.True(() => frozenBroker.Sent - sentBefore >= 100, TimeSpan.FromSeconds(30), "the rejoined broker confirms sends again");
            await stopProducing.CancelAsync();
            await producer;
            await Task.WhenAll(inFlight.Keys);

            var all = sends.ToArray();
            var during = all.Where(s => s.Start >= frozenAt && s.Start < thawedAt).Select(s => s.Latency.TotalMilliseconds).Order().ToArray();
            var p99 = during[(int)Math.Ceiling(during.Length * 0.99) - 1];
            var over1s = during.Count(l => l > 1000);
            var left = rotation.Left.ToArray();
            var rejoined = rotation.Rejoined.ToArray();
            var detected = left.Where(t => t >= frozenAt).DefaultIfEmpty(TimeSpan.MaxValue).Min();
            var readmittedWhileHung = rejoined.Count(t => t > frozenAt && t < thawedAt);
            output.WriteLine($"sends during the freeze: {during.Length}, p50 {during[during.Length / 2]:0} ms, p99 {p99:0} ms, max {during[^1]:0} ms, over 1 s: {over1s}");
            output.WriteLine($"left the rotation at {string.Join(", ", left.Select(t => $"{t.TotalSeconds:0.0}s"))}; rejoined at {string.Join(", ", rejoined.Select(t => $"{t.TotalSeconds:0.0}s"))}");
            output.WriteLine($"detected {(detected - frozenAt).TotalSeconds:0.00}s after the freeze; rejoined {(rejoinedAt - thawedAt).TotalSeconds:0.0}s after the thaw");

            // Every confirmed message is consumed exactly once; copies left on the frozen broker are suppressed.
            await Eventually.True(() => confirmed.Keys.All(new HashSet<Guid>(kit.Log.Consumed.Select(c => c.Id)).Contains), TimeSpan.FromSeconds(60),
                "every confirmed message is consumed, also those the frozen broker held");
            var copies = kit.Log.Consumed.GroupBy(c => c.Id).ToDictionary(g => g.Key, g => g.Count());
            output.WriteLine($"sent {all.Length}, confirmed {confirmed.Count}, failed {failures.Count}, consumer runs {kit.Log.Count}, " +
                $"copies suppressed {kit.Multibroker.DuplicatesSuppressed}, failed attempts {kit.Multibroker.Brokers.Sum(b => b.SendFailures)}, " +
                $"hedges and failovers {rotation.ExtraAttempts}");

            Assert.Empty(failures);
            Assert.Equal(all.Length, confirmed.Count);
            Assert.All(confirmed.Keys, id => Assert.Equal(1, copies.GetValueOrDefault(id)));
            Assert.Equal(confirmed.Count, kit.Log.Count);
            // Copies come only from second attempts of a message (hedges, failovers) that reached a broker too.
            Assert.InRange(kit.Multibroker.DuplicatesSuppressed, 0, rotation.ExtraAttempts);
            Assert.True(p99 <= 1000, $"p99 of the sends during the freeze was {p99:0} ms ({over1s} of {during.Length} over 1 s)");
            Assert.True(detected - frozenAt < TimeSpan.FromSeconds(2), $"the hung broker left the rotation {(detected - frozenAt).TotalSeconds:0.0}s after the freeze");
            Assert.Equal(0, readmittedWhileHung);
        }
        finally
        {
            await stopProducing.CancelAsync();
            await producer;
        }
    }
}
