using MassTransit.Patterns.Health;
using MassTransit.Patterns.QueueDepth;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Time.Testing;

namespace MassTransit.Patterns.Tests.Health;

public sealed class QueueDepthHealthCheckTests
{
    const string Queue = "health-orders";

    /// <summary>A probe that reads 7, or fails as an unreachable broker does, as the test says.</summary>
    sealed class SwitchedProbe : IQueueDepthProbe
    {
        public volatile bool Fail;

        public string Name => "switched";

        public bool KnowsUnacknowledged => false;

        public Task<QueueDepthSample> GetDepthAsync(string queue, CancellationToken cancellationToken = default) =>
            Fail
                ? Task.FromException<QueueDepthSample>(new QueueDepthProbeException(queue, Name, QueueDepthFailure.Unreachable, "connection refused"))
                : Task.FromResult(new QueueDepthSample(queue, 7, null, null, DateTimeOffset.UtcNow));
    }

    [Fact]
    public async Task Failed_readings_turn_the_check_degraded_then_unhealthy_with_the_reason_and_a_good_reading_clears_it()
    {
        var probe = new SwitchedProbe();
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var rig = HealthRig.Build(s => s.AddSingleton<TimeProvider>(time).AddSingleton<IQueueDepthProbe>(probe)
            .AddQueueDepthMonitor(o => o.Queues.Add(Queue)), o => o.QueueDepthFailuresUnhealthy = 2);
        var monitor = rig.Services.GetRequiredService<IQueueDepthMonitor>();
        var ct = TestContext.Current.CancellationToken;

        await monitor.PollAsync(Queue, ct);
        var healthy = await rig.CheckAsync(PatternsHealthCheckNames.QueueDepth);
        Assert.Equal(HealthStatus.Healthy, healthy.Status);
        Assert.Equal("1 watched queue(s) read.", healthy.Description);
        Assert.StartsWith("7 ready at ", (string)healthy.Data[Queue]);

        probe.Fail = true;
        await monitor.PollAsync(Queue, ct);
        var degraded = await rig.CheckAsync(PatternsHealthCheckNames.QueueDepth);
        Assert.Equal(HealthStatus.Degraded, degraded.Status);
        Assert.Equal($"Queue '{Queue}': 1 depth reading(s) in a row failed (degraded at 1): "
            + $"Queue depth of '{Queue}' could not be read by the switched probe (Unreachable): connection refused", degraded.Description);
        Assert.StartsWith("1 failed reading(s) in a row (Unreachable) at ", (string)degraded.Data[Queue]);

        await monitor.PollAsync(Queue, ct);
        var unhealthy = await rig.CheckAsync(PatternsHealthCheckNames.QueueDepth);
        Assert.Equal(HealthStatus.Unhealthy, unhealthy.Status);
        Assert.StartsWith($"Queue '{Queue}': 2 depth reading(s) in a row failed (unhealthy at 2): ", unhealthy.Description);

        probe.Fail = false;
        await monitor.PollAsync(Queue, ct);
        Assert.Equal(HealthStatus.Healthy, (await rig.CheckAsync(PatternsHealthCheckNames.QueueDepth)).Status);
    }

    [Fact]
    public async Task A_reading_older_than_the_stale_age_turns_the_check_degraded_and_a_new_reading_clears_it()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var rig = HealthRig.Build(s => s.AddSingleton<TimeProvider>(time).AddSingleton<IQueueDepthProbe>(new SwitchedProbe())
            .AddQueueDepthMonitor(o => o.Queues.Add(Queue)), o => o.QueueDepthStaleAfter = TimeSpan.FromSeconds(30));
        var monitor = rig.Services.GetRequiredService<IQueueDepthMonitor>();
        var ct = TestContext.Current.CancellationToken;

        var notRead = await rig.CheckAsync(PatternsHealthCheckNames.QueueDepth);
        Assert.Equal((HealthStatus.Healthy, "not read yet"), (notRead.Status, notRead.Data[Queue]));
        await monitor.PollAsync(Queue, ct);
        Assert.Equal(HealthStatus.Healthy, (await rig.CheckAsync(PatternsHealthCheckNames.QueueDepth)).Status);

        time.Advance(TimeSpan.FromSeconds(31));
        var stale = await rig.CheckAsync(PatternsHealthCheckNames.QueueDepth);
        Assert.Equal(HealthStatus.Degraded, stale.Status);
        Assert.Equal($"Queue '{Queue}': the latest depth reading is 00:00:31 old (stale after 00:00:30): the monitor no longer reads it.", stale.Description);

        await monitor.PollAsync(Queue, ct);
        Assert.Equal(HealthStatus.Healthy, (await rig.CheckAsync(PatternsHealthCheckNames.QueueDepth)).Status);
    }
}
