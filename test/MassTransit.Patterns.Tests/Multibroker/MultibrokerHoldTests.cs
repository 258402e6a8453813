using MassTransit.Patterns.Multibroker;
using MassTransit.Patterns.Testing;

namespace MassTransit.Patterns.Tests.Multibroker;

using Messages;

public class MultibrokerHoldTests
{
    static readonly Uri Orders = MultibrokerKit.Orders;

    [Fact]
    public async Task A_held_broker_gets_no_send_while_held_even_after_probes_and_gets_sends_again_once_released()
    {
        // Probes every health check: a probe must not lift the hold.
        await using var kit = await MultibrokerKit.StartAsync(3, x => x.Options.ProbeInterval = TimeSpan.FromMilliseconds(1));
        var ct = TestContext.Current.CancellationToken;

        Assert.True(kit.Multibroker.Hold("b1", "maintenance (test)"));
        Assert.False(kit.Multibroker.Hold("b1", "again"));
        Assert.Equal(BrokerState.Held, kit.Broker(1).State);
        Assert.Equal("maintenance (test)", kit.Broker(1).LastFailure);
        Assert.Equal(1, kit.Broker(1).Ejections);

        var confirmedBy = new Dictionary<Guid, string>();
        for (var i = 0; i < 30; i++)
        {
            var id = NewId.NextGuid();
            var broker = await kit.Multibroker.SendAsync(Orders, new Order("held", i), pipe: Pipe.Execute<SendContext<Order>>(c => c.MessageId = id), cancellationToken: ct);
            confirmedBy[id] = broker.Name;
            kit.CheckHealth();   // health checks and probes run between the sends
        }
        Assert.Equal(BrokerState.Held, kit.Broker(1).State);
        Assert.DoesNotContain("b1", confirmedBy.Values);
        Assert.Equal(15, confirmedBy.Values.Count(b => b == "b0"));
        Assert.Equal(15, confirmedBy.Values.Count(b => b == "b2"));
        Assert.Equal(0, kit.Broker(1).Sent);

        Assert.True(kit.Multibroker.Release("b1"));
        Assert.False(kit.Multibroker.Release("b1"));
        Assert.Equal(BrokerState.Healthy, kit.Broker(1).State);
        Assert.Equal(1, kit.Broker(1).Rejoins);

        for (var i = 30; i < 60; i++)
        {
            var id = NewId.NextGuid();
            var broker = await kit.Multibroker.SendAsync(Orders, new Order("released", i), pipe: Pipe.Execute<SendContext<Order>>(c => c.MessageId = id), cancellationToken: ct);
            confirmedBy[id] = broker.Name;
        }
        Assert.Equal(10, confirmedBy.Values.Skip(30).Count(b => b == "b1"));

        // Every message accounted for: consumed once, under its id, through the broker that confirmed it.
        await Eventually.True(() => kit.Recorder.Orders.Count >= 60, MultibrokerKit.Timeout, "60 orders consumed");
        var seen = kit.Recorder.Orders;
        Assert.Equal(60, seen.Count);
        Assert.Equal(confirmedBy.Keys.Order(), seen.Select(s => s.MessageId!.Value).Order());
        foreach (var s in seen)
            Assert.Equal(confirmedBy[s.MessageId!.Value], s.Broker);
        Assert.DoesNotContain(seen, s => s.Customer == "held" && s.Broker == "b1");
    }

    [Fact]
    public async Task When_every_other_broker_fails_a_send_does_not_fall_back_to_the_held_broker()
    {
        await using var kit = await MultibrokerKit.StartAsync(2, x => x.Options.HealthCheckInterval = TimeSpan.FromHours(1));
        var ct = TestContext.Current.CancellationToken;
        kit.Multibroker.Hold("b1", "maintenance (test)");
        kit.Transports[0].Outage.Down();

        var e = await Assert.ThrowsAsync<MultibrokerSendException>(() => kit.Multibroker.SendAsync(Orders, new Order("c", 1), cancellationToken: ct));

        Assert.Contains("b1: Held", e.Message);
        Assert.Equal(0, kit.Broker(1).Sent);
        Assert.Equal(0, kit.Broker(1).SendFailures);
        kit.Transports[0].Outage.Up();
    }

    [Fact]
    public async Task Holding_or_releasing_an_unknown_broker_throws_naming_the_brokers()
    {
        await using var kit = await MultibrokerKit.StartAsync(2);
        var e = Assert.Throws<ArgumentException>(() => kit.Multibroker.Hold("nope", "x"));
        Assert.Contains("b0, b1", e.Message);
        Assert.Throws<ArgumentException>(() => kit.Multibroker.Release("nope"));
    }
}
