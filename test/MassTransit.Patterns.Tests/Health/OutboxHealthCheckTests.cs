using System.Diagnostics;
using MassTransit.Patterns.EventForwarding;
using MassTransit.Patterns.Health;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace MassTransit.Patterns.Tests.Health;

public sealed class OutboxHealthCheckTests
{
    /// <summary>An outbox whose backlog reads as the test says: a figure, a fault, or no answer at all.</summary>
    sealed class ScriptedBacklog(string name) : IOutboxBacklog
    {
        public volatile Func<CancellationToken, Task<OutboxBacklogReading>> Read = _ => Task.FromResult(new OutboxBacklogReading(0, null, DateTimeOffset.UtcNow));

        public int Reads;

        public string Name => name;

        public Task<OutboxBacklogReading> ReadAsync(CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref Reads);
            return Read(cancellationToken);
        }

        public void Answer(long pending, TimeSpan oldestAge)
        {
            var now = DateTimeOffset.UtcNow;
            Read = _ => Task.FromResult(new OutboxBacklogReading(pending, pending == 0 ? null : now - oldestAge, now));
        }
    }

    [Fact]
    public async Task A_backlog_or_an_oldest_age_over_its_thresholds_degrades_then_fails_the_check_with_the_figures_and_clears_when_delivered()
    {
        var orders = new ScriptedBacklog("OrdersDbContext");
        var billing = new ScriptedBacklog("BillingDbContext");
        await using var rig = HealthRig.Build(s => s.AddSingleton<IOutboxBacklog>(orders).AddSingleton<IOutboxBacklog>(billing));

        orders.Answer(3, TimeSpan.FromSeconds(5));
        var healthy = await rig.CheckAsync(PatternsHealthCheckNames.Outbox);
        Assert.Equal((HealthStatus.Healthy, "2 outbox(es) within their thresholds."), (healthy.Status, healthy.Description));
        Assert.Equal(3L, healthy.Data["OrdersDbContext.pending"]);
        Assert.Equal(5.0, (double)healthy.Data["OrdersDbContext.oldestAgeSeconds"], 3);

        orders.Answer(1500, TimeSpan.FromSeconds(5));
        var degraded = await rig.CheckAsync(PatternsHealthCheckNames.Outbox);
        Assert.Equal((HealthStatus.Degraded, "Outbox 'OrdersDbContext': 1500 messages not delivered yet (degraded at 1000)."),
            (degraded.Status, degraded.Description));

        orders.Answer(20, TimeSpan.FromMinutes(11));
        var unhealthy = await rig.CheckAsync(PatternsHealthCheckNames.Outbox);
        Assert.Equal((HealthStatus.Unhealthy, "Outbox 'OrdersDbContext': the oldest undelivered message has waited 00:11:00 (unhealthy at 00:10:00)."),
            (unhealthy.Status, unhealthy.Description));

        orders.Answer(0, TimeSpan.Zero);
        Assert.Equal(HealthStatus.Healthy, (await rig.CheckAsync(PatternsHealthCheckNames.Outbox)).Status);
        Assert.Equal((4, 4), (orders.Reads, billing.Reads));   // one read of each outbox per check
    }

    [Fact]
    public async Task A_reader_that_throws_times_out_on_its_own_or_never_answers_fails_the_check_with_that_reason_within_the_read_timeout()
    {
        var orders = new ScriptedBacklog("OrdersDbContext");
        await using var rig = HealthRig.Build(s => s.AddSingleton<IOutboxBacklog>(orders), o => o.ReadTimeout = TimeSpan.FromMilliseconds(300));

        orders.Read = _ => throw new InvalidOperationException("database unreachable");
        var thrown = await rig.CheckAsync(PatternsHealthCheckNames.Outbox);
        Assert.Equal((HealthStatus.Unhealthy, "Outbox 'OrdersDbContext': its backlog could not be read: failed (InvalidOperationException: database unreachable)."),
            (thrown.Status, thrown.Description));
        Assert.Equal("failed (InvalidOperationException: database unreachable)", thrown.Data["OrdersDbContext.error"]);

        // HttpClient's own timeout: a TaskCanceledException that is not the check's cancellation.
        orders.Read = _ => Task.FromException<OutboxBacklogReading>(new TaskCanceledException("The request was canceled due to the configured HttpClient.Timeout of 100 seconds elapsing."));
        var canceled = await rig.CheckAsync(PatternsHealthCheckNames.Outbox);
        Assert.Equal((HealthStatus.Unhealthy, "Outbox 'OrdersDbContext': its backlog could not be read: timed out (TaskCanceledException: "
            + "The request was canceled due to the configured HttpClient.Timeout of 100 seconds elapsing.)."), (canceled.Status, canceled.Description));

        // A reader that never answers and ignores its cancellation: the check answers after the read timeout, not never.
        var never = new TaskCompletionSource<OutboxBacklogReading>();
        orders.Read = _ => never.Task;
        var watch = Stopwatch.StartNew();
        var hung = await rig.CheckAsync(PatternsHealthCheckNames.Outbox);
        watch.Stop();
        Assert.Equal((HealthStatus.Unhealthy, "Outbox 'OrdersDbContext': its backlog could not be read: did not answer within 00:00:00.3000000."),
            (hung.Status, hung.Description));
        Assert.InRange(watch.Elapsed, TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(10));
        never.SetException(new InvalidOperationException("late fault, observed and dropped"));

        orders.Answer(0, TimeSpan.Zero);
        Assert.Equal(HealthStatus.Healthy, (await rig.CheckAsync(PatternsHealthCheckNames.Outbox)).Status);
    }

    [Fact]
    public async Task The_status_of_an_unreadable_backlog_is_an_option()
    {
        var orders = new ScriptedBacklog("OrdersDbContext") { Read = _ => throw new InvalidOperationException("down") };
        await using var rig = HealthRig.Build(s => s.AddSingleton<IOutboxBacklog>(orders), o => o.ReadFailureStatus = HealthStatus.Degraded);

        Assert.Equal(HealthStatus.Degraded, (await rig.CheckAsync(PatternsHealthCheckNames.Outbox)).Status);
    }
}
