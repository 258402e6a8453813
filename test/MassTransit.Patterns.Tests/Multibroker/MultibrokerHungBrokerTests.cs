using System.Diagnostics;
using MassTransit.Patterns.Multibroker;
using MassTransit.Patterns.Testing;

namespace MassTransit.Patterns.Tests.Multibroker;

using Messages;

/// <summary>
/// In-memory brokers, one made to hang (its sends and probes wait, its bus still reports itself
/// connected, as a frozen broker's open connection does). Health is checked only when the test says
/// so, except where the periodic loop is the subject.
/// </summary>
public class MultibrokerHungBrokerTests
{
    static readonly TimeSpan Hedge = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// One send per broker, so that no first (cold) send of the test proper is slow enough to be hedged,
    /// then until every broker is in rotation (a cold send slower than the hedge delay ejects its broker).
    /// </summary>
    static async Task WarmUp(MultibrokerKit kit, int brokers)
    {
        for (var i = 0; i < brokers; i++)
            await kit.Multibroker.SendAsync(MultibrokerKit.Orders, new Order("warm-up", i), cancellationToken: TestContext.Current.CancellationToken);
        await Eventually.True(() =>
        {
            kit.CheckHealth();
            return kit.Multibroker.Brokers.All(b => b.State == BrokerState.Healthy);
        }, MultibrokerKit.Timeout, "every broker in rotation after the warm-up");
    }

    [Fact]
    public async Task A_send_to_a_hung_broker_is_hedged_to_the_next_one_after_the_hedge_delay_under_the_same_id_and_the_hung_broker_leaves_the_rotation()
    {
        await using var kit = await MultibrokerKit.StartAsync(3, x =>
        {
            x.Options.HealthCheckInterval = TimeSpan.FromHours(1);
            x.Options.HedgeDelay = Hedge;
            x.Options.ProbeInterval = null;
        });
        var ct = TestContext.Current.CancellationToken;
        await WarmUp(kit, 3);
        kit.Transports[1].Outage.Hang();

        var results = new List<(Guid Id, string Broker, TimeSpan Took)>();
        for (var i = 0; i < 6; i++)
        {
            var id = NewId.NextGuid();
            var watch = Stopwatch.StartNew();
            var broker = await kit.Multibroker.SendAsync(MultibrokerKit.Orders, new Order("c", 10 + i), pipe: Pipe.Execute<SendContext<Order>>(c => c.MessageId = id), cancellationToken: ct);
            results.Add((id, broker.Name, watch.Elapsed));
        }

        // Round robin: the second send went to b1 first, waited the hedge delay (not the 5 s send timeout), and b2 confirmed it.
        Assert.DoesNotContain(results, r => r.Broker == "b1");
        var hedged = results[1];
        Assert.Equal("b2", hedged.Broker);
        Assert.InRange(hedged.Took, Hedge - TimeSpan.FromMilliseconds(20), Hedge + TimeSpan.FromSeconds(1));
        Assert.Equal(BrokerState.Ejected, kit.Broker(1).State);
        Assert.Contains("while b2 confirmed the same message", kit.Broker(1).LastFailure);
        Assert.Equal(1, kit.Broker(1).SendFailures);

        await Eventually.True(() => kit.Recorder.Orders.Count >= 9, MultibrokerKit.Timeout, "9 orders consumed");
        var seen = kit.Recorder.Orders.Where(o => o.Customer == "c").ToArray();
        Assert.Equal(results.Select(r => r.Id).Order(), seen.Select(s => s.MessageId!.Value).Order());
        Assert.Equal(1, seen.Single(s => s.MessageId == hedged.Id).Failover);   // the hedge carries the attempt number
    }

    [Fact]
    public async Task A_hung_broker_is_not_readmitted_when_its_ejection_ends_a_failed_probe_ejects_it_for_longer_and_it_rejoins_once_a_probe_answers()
    {
        await using var kit = await MultibrokerKit.StartAsync(2, x =>
        {
            x.Options.HealthCheckInterval = TimeSpan.FromHours(1);
            x.Options.HedgeDelay = Hedge;
            x.Options.EjectionTime = TimeSpan.FromMilliseconds(200);
            x.Options.ProbeTimeout = TimeSpan.FromMilliseconds(200);
            x.Options.ProbeInterval = null;
        });
        var ct = TestContext.Current.CancellationToken;
        await WarmUp(kit, 2);
        Assert.Equal("b0", (await kit.Multibroker.SendAsync(MultibrokerKit.Orders, new Order("c", 0), cancellationToken: ct)).Name);
        kit.Transports[1].Outage.Hang();
        Assert.Equal("b0", (await kit.Multibroker.SendAsync(MultibrokerKit.Orders, new Order("c", 1), cancellationToken: ct)).Name);
        Assert.Equal(BrokerState.Ejected, kit.Broker(1).State);

        // For 2.5 s of health checks every 20 ms: never back in rotation, and every probe it got went unanswered.
        var states = new HashSet<BrokerState>();
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromSeconds(2.5))
        {
            kit.CheckHealth();
            states.Add(kit.Broker(1).State);
            await Task.Delay(20, ct);
        }
        Assert.DoesNotContain(BrokerState.Healthy, states);
        Assert.Contains(BrokerState.Probing, states);
        Assert.Contains("no answer to a probe within", kit.Broker(1).LastFailure);

        kit.Transports[1].Outage.Up();
        await Eventually.True(() =>
        {
            kit.CheckHealth();
            return kit.Broker(1).State == BrokerState.Healthy;
        }, MultibrokerKit.Timeout, "b1 rejoins once a probe answers");
        var sent = new List<string>();
        for (var i = 0; i < 10; i++)
            sent.Add((await kit.Multibroker.SendAsync(MultibrokerKit.Orders, new Order("c", 10 + i), cancellationToken: ct)).Name);
        Assert.Equal(5, sent.Count(n => n == "b1"));
        await Eventually.True(() => kit.Recorder.Orders.Count >= 14, MultibrokerKit.Timeout, "14 orders consumed");
        Assert.Equal(12, kit.Recorder.Orders.Where(o => o.Customer == "c").Select(o => o.MessageId).Distinct().Count());
    }

    [Fact]
    public async Task With_no_send_at_all_the_periodic_probe_takes_a_hung_broker_out_of_the_rotation()
    {
        await using var kit = await MultibrokerKit.StartAsync(2, x =>
        {
            x.Options.HealthCheckInterval = TimeSpan.FromMilliseconds(50);
            x.Options.ProbeTimeout = TimeSpan.FromMilliseconds(200);
            x.Options.ProbeInterval = TimeSpan.FromMilliseconds(300);
        });
        kit.Transports[1].Outage.Hang();
        var watch = Stopwatch.StartNew();
        await Eventually.True(() => kit.Broker(1).State != BrokerState.Healthy, MultibrokerKit.Timeout, "the probe finds the hang");
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2), $"found after {watch.Elapsed.TotalMilliseconds:0} ms");
        Assert.Contains("no answer to a probe", kit.Broker(1).LastFailure);
        Assert.Equal(BrokerState.Healthy, kit.Broker(0).State);
        kit.Transports[1].Outage.Up();
        await Eventually.True(() => kit.Broker(1).State == BrokerState.Healthy, MultibrokerKit.Timeout, "b1 rejoins once a probe answers");
    }
}
