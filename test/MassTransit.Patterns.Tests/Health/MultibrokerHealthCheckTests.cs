using MassTransit.Patterns.Health;
using MassTransit.Patterns.Multibroker;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Tests.Multibroker;
using MassTransit.Patterns.Tests.Multibroker.Messages;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace MassTransit.Patterns.Tests.Health;

public sealed class MultibrokerHealthCheckTests
{
    [Fact]
    public async Task A_broker_out_of_rotation_degrades_the_check_naming_it_every_broker_out_makes_it_unhealthy_and_their_return_clears_it()
    {
        // Health is checked only when the test says so, so each state is the one the test made.
        await using var kit = await MultibrokerKit.StartAsync(2, x => x.Options.HealthCheckInterval = TimeSpan.FromHours(1));
        await using var rig = HealthRig.Build(s => s.AddSingleton(kit.Multibroker));

        var healthy = await rig.CheckAsync(PatternsHealthCheckNames.Multibroker);
        Assert.Equal((HealthStatus.Healthy, "2 of 2 brokers in rotation."), (healthy.Status, healthy.Description));
        Assert.Equal(("Healthy", "Healthy"), (healthy.Data["b0"], healthy.Data["b1"]));

        kit.Transports[1].Outage.Down();
        kit.CheckHealth();
        Assert.Equal(BrokerState.Disconnected, kit.Broker(1).State);
        var reason1 = kit.Broker(1).LastFailure;
        Assert.False(string.IsNullOrWhiteSpace(reason1));
        var degraded = await rig.CheckAsync(PatternsHealthCheckNames.Multibroker);
        Assert.Equal(HealthStatus.Degraded, degraded.Status);
        Assert.Equal($"1 of 2 brokers out of rotation: b1 is Disconnected ({reason1}).", degraded.Description);
        Assert.Equal(($"Disconnected: {reason1}", 1), (degraded.Data["b1"], degraded.Data["inRotation"]));

        kit.Transports[0].Outage.Down();
        kit.CheckHealth();
        var reason0 = kit.Broker(0).LastFailure;
        var unhealthy = await rig.CheckAsync(PatternsHealthCheckNames.Multibroker);
        Assert.Equal(HealthStatus.Unhealthy, unhealthy.Status);
        Assert.Equal($"0 of 2 brokers in rotation (unhealthy below 1): b0 is Disconnected ({reason0}); b1 is Disconnected ({reason1}).", unhealthy.Description);

        foreach (var transport in kit.Transports)
            transport.Outage.Up();
        await Eventually.True(() =>
        {
            kit.CheckHealth();
            return kit.Multibroker.Brokers.All(b => b.State == BrokerState.Healthy);
        }, MultibrokerKit.Timeout, "both brokers rejoin once their outage ends");
        var cleared = await rig.CheckAsync(PatternsHealthCheckNames.Multibroker);
        Assert.Equal((HealthStatus.Healthy, "2 of 2 brokers in rotation."), (cleared.Status, cleared.Description));
    }

    [Fact]
    public async Task A_broker_ejected_by_a_failed_send_degrades_the_check_with_the_send_failure_and_clears_once_it_answers_a_probe()
    {
        // Health is checked only when the test says so: the outage must be found by a send, not by a periodic check racing it.
        // The ejection lasts 5 s (not the kit's 200 ms, which a loaded machine outlasted before the check ran: b1 was Probing by then).
        await using var kit = await MultibrokerKit.StartAsync(2, x =>
        {
            x.Options.HealthCheckInterval = TimeSpan.FromHours(1);
            x.Options.EjectionTime = TimeSpan.FromSeconds(5);
        });
        await using var rig = HealthRig.Build(s => s.AddSingleton(kit.Multibroker));
        var ct = TestContext.Current.CancellationToken;
        kit.Transports[1].Outage.Down();

        // Round robin over two brokers: one of the two sends goes to b1 first, fails there and fails over to b0.
        for (var i = 0; i < 2; i++)
            Assert.Equal("b0", (await kit.Multibroker.SendAsync(MultibrokerKit.Orders, new Order("c", i), cancellationToken: ct)).Name);
        Assert.Equal(BrokerState.Ejected, kit.Broker(1).State);
        var reason = kit.Broker(1).LastFailure;
        Assert.False(string.IsNullOrWhiteSpace(reason));
        var degraded = await rig.CheckAsync(PatternsHealthCheckNames.Multibroker);
        Assert.Equal((HealthStatus.Degraded, $"1 of 2 brokers out of rotation: b1 is Ejected ({reason})."), (degraded.Status, degraded.Description));

        kit.Transports[1].Outage.Up();
        await Eventually.True(() =>
        {
            kit.CheckHealth();   // once the ejection time is over, a probe must get through before b1 is back
            return kit.Broker(1).State == BrokerState.Healthy;
        }, TimeSpan.FromSeconds(30), "b1 answers a probe and rejoins once its 5 s ejection is over");
        Assert.Equal(HealthStatus.Healthy, (await rig.CheckAsync(PatternsHealthCheckNames.Multibroker)).Status);

        // Both orders were consumed once, on b0.
        await Eventually.True(() => kit.Recorder.Orders.Count >= 2, MultibrokerKit.Timeout, "both orders consumed");
        Assert.Equal([("b0", 0), ("b0", 1)], kit.Recorder.Orders.Select(o => (o.Broker, o.Number)).Order());
    }
}
