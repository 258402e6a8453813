using MassTransit.Patterns.Multibroker;
using Microsoft.Extensions.Time.Testing;

namespace MassTransit.Patterns.Tests.Multibroker;

public class BrokerHealthTests
{
    static (BrokerHealth Health, FakeTimeProvider Time) Started(Action<MultibrokerOptions>? configure = null)
    {
        var options = new MultibrokerOptions { EjectionTime = TimeSpan.FromSeconds(2), MaxEjectionTime = TimeSpan.FromSeconds(10) };
        configure?.Invoke(options);
        var time = new FakeTimeProvider();
        var health = new BrokerHealth(options, time);
        Assert.Equal(BrokerState.Starting, health.State);
        Assert.False(health.InRotation);
        health.Started(true);
        Assert.Equal(BrokerState.Healthy, health.State);
        return (health, time);
    }

    [Fact]
    public void A_failed_send_ejects_the_broker_for_the_ejection_time_then_it_returns_only_once_a_probe_answers()
    {
        var (health, time) = Started(o => o.ProbeInterval = null);
        Assert.True(health.RecordFailure("no confirm"));
        Assert.Equal(BrokerState.Ejected, health.State);
        Assert.Equal("no confirm", health.LastReason);
        Assert.False(health.TryBeginProbe());                  // not while ejected
        time.Advance(TimeSpan.FromSeconds(1.9));
        Assert.False(health.InRotation);
        time.Advance(TimeSpan.FromSeconds(0.2));
        // The ejection is over, but a hung broker must not come back on a timer: it owes a probe.
        Assert.Equal(BrokerState.Probing, health.State);
        Assert.False(health.InRotation);
        time.Advance(TimeSpan.FromMinutes(5));
        Assert.Equal(BrokerState.Probing, health.State);
        Assert.True(health.TryBeginProbe());
        Assert.False(health.TryBeginProbe());                  // one probe at a time
        health.ProbeSucceeded();
        Assert.True(health.InRotation);
        Assert.False(health.TryBeginProbe());                  // no periodic probe configured
    }

    [Fact]
    public void A_failed_probe_ejects_again_for_twice_as_long_and_a_confirmed_send_settles_what_the_broker_owes()
    {
        var (health, time) = Started(o => o.ProbeInterval = null);
        Assert.True(health.RecordFailure("no confirm"));
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.True(health.TryBeginProbe());
        Assert.True(health.ProbeFailed("no answer to a probe"));
        Assert.Equal((BrokerState.Ejected, TimeSpan.FromSeconds(4)), (health.State, health.EjectedFor));
        Assert.Equal("no answer to a probe", health.LastReason);
        time.Advance(TimeSpan.FromSeconds(4));
        Assert.True(health.TryBeginProbe());
        Assert.True(health.ProbeFailed("no answer to a probe"));
        Assert.Equal(TimeSpan.FromSeconds(8), health.EjectedFor);
        time.Advance(TimeSpan.FromSeconds(8));
        Assert.Equal(BrokerState.Probing, health.State);
        // A send tried there as a last resort and confirmed is a round trip too: the broker is back, the doubling starts over.
        health.RecordSuccess();
        Assert.True(health.InRotation);
        Assert.True(health.RecordFailure("x"));
        Assert.Equal(TimeSpan.FromSeconds(2), health.EjectedFor);
    }

    [Fact]
    public void A_broker_in_rotation_is_probed_every_probe_interval_and_a_failed_probe_ejects_it()
    {
        var (health, time) = Started(o => o.ProbeInterval = TimeSpan.FromSeconds(5));
        Assert.True(health.TryBeginProbe());                   // the first at once
        health.ProbeSucceeded();
        time.Advance(TimeSpan.FromSeconds(4.9));
        Assert.False(health.TryBeginProbe());
        time.Advance(TimeSpan.FromSeconds(0.1));
        Assert.True(health.TryBeginProbe());
        Assert.True(health.ProbeFailed("no answer to a probe within 00:00:01"));
        Assert.Equal(BrokerState.Ejected, health.State);
    }

    [Fact]
    public void Failures_below_the_threshold_keep_it_in_rotation_and_a_success_resets_the_count()
    {
        var (health, _) = Started(o => o.FailuresToEject = 3);
        Assert.False(health.RecordFailure("x"));
        Assert.False(health.RecordFailure("x"));
        health.RecordSuccess();
        Assert.False(health.RecordFailure("x"));
        Assert.False(health.RecordFailure("x"));
        Assert.True(health.InRotation);
        Assert.True(health.RecordFailure("x"));
        Assert.False(health.InRotation);
    }

    [Fact]
    public void Ejections_in_a_row_double_up_to_the_maximum_and_a_success_resets_them()
    {
        var (health, time) = Started();
        foreach (var expected in new[] { 2, 4, 8, 10, 10 })
        {
            Assert.True(health.RecordFailure("x"));
            Assert.Equal(TimeSpan.FromSeconds(expected), health.EjectedFor);
            Assert.False(health.RecordFailure("in flight")); // failures while out do not extend it
            time.Advance(TimeSpan.FromSeconds(expected));
            Assert.Equal(BrokerState.Probing, health.State);   // out until a probe or a send gets through
        }
        health.RecordSuccess();
        Assert.True(health.RecordFailure("x"));
        Assert.Equal(TimeSpan.FromSeconds(2), health.EjectedFor);
    }

    [Fact]
    public void A_disconnected_bus_is_out_of_rotation_until_it_reports_connected()
    {
        var (health, _) = Started();
        health.Observe(false, "Degraded: endpoints reconnecting");
        Assert.Equal(BrokerState.Disconnected, health.State);
        Assert.Equal("Degraded: endpoints reconnecting", health.LastReason);
        health.Observe(true, null);
        Assert.Equal(BrokerState.Healthy, health.State);
        health.Started(false, "stopped");
        Assert.Equal(BrokerState.Starting, health.State);
    }
}
