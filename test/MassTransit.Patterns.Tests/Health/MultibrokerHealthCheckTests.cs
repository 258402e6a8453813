using MassTransit.Patterns.Health;
using MassTransit.Patterns.Multibroker;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Tests.Multibroker;
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
}
