using System.Collections.Concurrent;
using System.Diagnostics;
using MassTransit.Patterns.Multibroker;
using MassTransit.Patterns.RabbitMQ.Tests.Accounting;
using MassTransit.Patterns.RabbitMQ.Tests.EventForwarding;
using MassTransit.Patterns.Testing;

namespace MassTransit.Patterns.RabbitMQ.Tests.Multibroker;

using Messages;

/// <summary>
/// Three real brokers, one of them a throwaway node of this test (the shared nodes are never killed):
/// the throwaway is killed (kill -9) in the middle of a run of confirmed sends, then restarted.
/// </summary>
public sealed class MultibrokerFailoverOnRabbitMqTests(ITestOutputHelper output)
{
    static readonly TimeSpan SendTimeout = TimeSpan.FromSeconds(2);
    static readonly TimeSpan Work = TimeSpan.FromMilliseconds(10);
    const int Concurrency = 2;

    [Fact]
    public async Task A_killed_broker_loses_no_confirmed_message_each_is_consumed_exactly_once_the_others_carry_on_and_it_rejoins_after_restart()
    {
        Assert.True(ServiceEnvironment.RabbitAmqpPorts.Length >= 2, "needs the shared nodes: eval \"$(build/services.sh start --rabbit-nodes 3)\"");
        var watch = Stopwatch.StartNew();
        await using var node = await ThrowawayRabbitNode.StartAsync();
        output.WriteLine($"throwaway node up in {node.LastStart.TotalSeconds:0.0}s");
        var victim = new TestBroker("throwaway", node.AmqpPort, node.UserName, node.Password);
        await using var kit = await MultibrokerRabbitKit.StartAsync([TestBroker.Shared(0), TestBroker.Shared(1), victim], x =>
        {
            x.Options.SendTimeout = SendTimeout;
            x.Options.EjectionTime = TimeSpan.FromMilliseconds(500);
            x.Options.HealthCheckInterval = TimeSpan.FromMilliseconds(200);
            x.Options.RestartInterval = TimeSpan.FromSeconds(1);
        }, concurrency: Concurrency, work: Work);
        var throwaway = kit.Multibroker.Brokers.Single(b => b.Name == victim.Name);
        var endpoint = await kit.Multibroker.GetSendEndpoint(kit.Address);

        // Producers: 8 in parallel, each message with an id of its own, recorded once its send returned (confirmed).
        var confirmed = new ConcurrentDictionary<Guid, int>();
        var failedSends = 0;
        var next = -1;
        async Task Produce(int total)
        {
            while (true)
            {
                var n = Interlocked.Increment(ref next);
                if (n >= total)
                    return;
                var id = NewId.NextGuid();
                try
                {
                    await endpoint.Send(new Shipment("c" + n, n), Pipe.Execute<SendContext<Shipment>>(c => c.MessageId = id));
                    confirmed[id] = n;
                }
                catch (MultibrokerSendException)
                {
                    Interlocked.Increment(ref failedSends);
                }
            }
        }

        // Phase 1: until the throwaway holds a backlog (confirmed there, not consumed yet), so that its kill strands messages.
        const int firstPhase = 100_000;
        var producers = Enumerable.Range(0, 8).Select(_ => Task.Run(() => Produce(firstPhase))).ToArray();
        await Eventually.True(() => throwaway.Sent - kit.Log.Consumed.Count(c => c.Port == victim.Port) >= 100, TimeSpan.FromSeconds(20),
            "the throwaway broker holds a backlog of 100 confirmed messages");
        var sentToVictimBeforeKill = throwaway.Sent;
        await node.Kill();
        var killedAt = watch.Elapsed;
        output.WriteLine($"killed the throwaway at {killedAt.TotalSeconds:0.0}s with {sentToVictimBeforeKill} confirmed by it, {kit.Log.Count} consumed overall");

        // The others carry on: 1,500 more messages are confirmed after the kill, none on the dead broker.
        var confirmedAtKill = confirmed.Count;
        await Eventually.True(() => confirmed.Count >= confirmedAtKill + 1_500, TimeSpan.FromSeconds(30), "1,500 more sends confirmed after the kill");
        Interlocked.Exchange(ref next, firstPhase);
        await Task.WhenAll(producers);
        Assert.Equal(0, failedSends);
        Assert.NotEqual(BrokerState.Healthy, throwaway.State);
        var sentToVictimWhileDown = throwaway.Sent - sentToVictimBeforeKill;
        output.WriteLine($"after the kill: {confirmed.Count - confirmedAtKill} confirmed, throwaway state {throwaway.State}, " +
            $"failures on it {throwaway.SendFailures}, confirmed by it while down {sentToVictimWhileDown}");

        // Restart: the broker rejoins the rotation and takes its share again.
        await node.RestartAsync();
        var restartedAt = watch.Elapsed;
        await Eventually.True(() => throwaway.State == BrokerState.Healthy, TimeSpan.FromSeconds(30), "the restarted broker rejoins the rotation",
            TimeSpan.FromMilliseconds(100));
        output.WriteLine($"restarted in {node.LastStart.TotalSeconds:0.0}s, rejoined {(watch.Elapsed - restartedAt).TotalSeconds:0.0}s later");
        var victimBeforeRejoinRun = throwaway.Sent;
        Interlocked.Exchange(ref next, -1);
        await Produce(300);
        Assert.InRange(throwaway.Sent - victimBeforeRejoinRun, 300 / 3 - 1, 300 / 3 + 1);

        // Every confirmed message is consumed exactly once: a copy a failed-over send may have left on the dead
        // broker (same message id), or a redelivery of one consumed as it died, is acknowledged without running the consumer.
        await Eventually.True(() => confirmed.Keys.All(new HashSet<Guid>(kit.Log.Consumed.Select(c => c.Id)).Contains), TimeSpan.FromSeconds(40),
            "every confirmed message is consumed, including those the throwaway held when it died");
        var copies = kit.Log.Consumed.GroupBy(c => c.Id).ToDictionary(g => g.Key, g => g.Count());
        var failedAttempts = kit.Multibroker.Brokers.Sum(b => b.SendFailures);
        var consumedFromThrowaway = kit.Log.Consumed.Count(c => c.Port == victim.Port);
        output.WriteLine($"confirmed {confirmed.Count}, consumer runs {kit.Log.Count}, copies suppressed {kit.Multibroker.DuplicatesSuppressed}, " +
            $"failed attempts {failedAttempts}, consumed from the throwaway {consumedFromThrowaway}; total {watch.Elapsed.TotalSeconds:0.0}s");
        Assert.All(confirmed.Keys, id => Assert.Equal(1, copies.GetValueOrDefault(id)));
        Assert.Equal(confirmed.Count, kit.Log.Count);
        // Copies come from failed-over sends the dead broker had stored, and from messages consumed while it died
        // whose acknowledgement it never processed (redelivered after its restart): at most its prefetch.
        Assert.InRange(kit.Multibroker.DuplicatesSuppressed, 0, failedAttempts + Concurrency);
        Assert.True(throwaway.SendFailures > 0, "the kill hit sends in flight");

        // Every confirmed message consumed once by id; the copies are the suppressed duplicates only; no queue holds anything.
        await kit.Account(Expect.Ids(confirmed.Keys))
            .Sent(confirmed.Keys)
            .Copies("copies suppressed as duplicates", () => kit.Multibroker.DuplicatesSuppressed, Expect.Between(0, failedAttempts + Concurrency))
            .AssertAllAccountedAsync(TimeSpan.FromSeconds(20));
    }
}
