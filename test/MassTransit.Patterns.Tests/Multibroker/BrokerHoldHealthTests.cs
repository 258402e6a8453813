using MassTransit.Patterns.Multibroker;
using Microsoft.Extensions.Time.Testing;

namespace MassTransit.Patterns.Tests.Multibroker;

/// <summary>An operator's hold in the broker's health: nothing but <see cref="BrokerHealth.Release"/> ends it, and then the normal rules apply.</summary>
public class BrokerHoldHealthTests
{
    static (BrokerHealth Health, FakeTimeProvider Time) Started()
    {
        var options = new MultibrokerOptions { EjectionTime = TimeSpan.FromSeconds(2), MaxEjectionTime = TimeSpan.FromSeconds(10), ProbeInterval = TimeSpan.FromSeconds(1) };
        var time = new FakeTimeProvider();
        var health = new BrokerHealth(options, time);
        health.Started(true);
        return (health, time);
    }

    [Fact]
    public void A_held_broker_stays_held_through_confirms_probe_successes_reconnections_and_time()
    {
        var (health, time) = Started();
        Assert.True(health.Hold("maintenance"));
        Assert.Equal(BrokerState.Held, health.State);
        Assert.False(health.InRotation);
        Assert.Equal("maintenance", health.LastReason);

        health.RecordSuccess();
        health.Observe(true, null);
        health.ProbeSucceeded();
        time.Advance(TimeSpan.FromHours(1));
        Assert.False(health.TryBeginProbe());   // no probe while held: nothing could lift it anyway
        Assert.Equal(BrokerState.Held, health.State);
        Assert.False(health.Hold("again"));
        Assert.Equal("maintenance", health.LastReason);

        Assert.True(health.Release());
        Assert.Equal(BrokerState.Healthy, health.State);
        Assert.False(health.Release());
    }

    [Fact]
    public void Released_the_broker_is_under_the_normal_rules_again_an_ejection_from_before_the_hold_still_runs()
    {
        var (health, time) = Started();
        Assert.True(health.RecordFailure("no confirm"));
        health.Hold("maintenance");
        Assert.Equal(BrokerState.Held, health.State);

        Assert.True(health.Release());
        Assert.Equal(BrokerState.Ejected, health.State);
        time.Advance(TimeSpan.FromSeconds(2.1));
        Assert.Equal(BrokerState.Probing, health.State);   // it still owes the probe of its ejection
        Assert.True(health.TryBeginProbe());
        health.ProbeSucceeded();
        Assert.Equal(BrokerState.Healthy, health.State);

        health.Hold("maintenance");
        health.Observe(false, "connection lost");
        health.Release();
        Assert.Equal(BrokerState.Disconnected, health.State);
    }
}
