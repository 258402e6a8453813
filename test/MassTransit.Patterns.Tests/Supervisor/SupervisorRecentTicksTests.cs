using MassTransit.Patterns.Configuration;
using MassTransit.Patterns.QueueDepth;
using MassTransit.Patterns.Supervisor;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace MassTransit.Patterns.Tests.Supervisor;

/// <summary>The supervisor's own bounded history of looks (what a dashboard charts): the latest, oldest first, never more than the option.</summary>
public sealed class SupervisorRecentTicksTests
{
    sealed class ScriptedProbe : IQueueDepthProbe
    {
        public long Depth;
        public bool Failing;

        public string Name => "scripted";

        public bool KnowsUnacknowledged => false;

        public Task<QueueDepthSample> GetDepthAsync(string queue, CancellationToken cancellationToken = default) => Failing
            ? throw new QueueDepthProbeException(queue, Name, QueueDepthFailure.Unreachable, "down")
            : Task.FromResult(new QueueDepthSample(queue, Depth, null, null, DateTimeOffset.UtcNow));
    }

    static ConsumerSupervisor Supervisor(ScriptedProbe probe, int historySize, FakeTimeProvider time) =>
        new("q", new SupervisorOptions { MinConsumers = 1, MaxConsumers = 8, MessagesPerConsumer = 10, TickHistorySize = historySize },
            new ElasticConcurrencyLimit(1), probe, NullLogger.Instance, time);

    [Fact]
    public async Task The_ring_keeps_the_latest_looks_oldest_first_and_no_more_than_its_size()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var probe = new ScriptedProbe();
        var supervisor = Supervisor(probe, historySize: 3, time);

        Assert.Empty(supervisor.RecentTicks);
        var depths = new long[] { 0, 40, 70, 0 };
        foreach (var depth in depths)
        {
            probe.Depth = depth;
            await supervisor.TickAsync(CancellationToken.None);
            time.Advance(TimeSpan.FromSeconds(1));
        }
        probe.Failing = true;
        await supervisor.TickAsync(CancellationToken.None);

        var ticks = supervisor.RecentTicks;
        Assert.Equal(5, supervisor.Ticks);
        Assert.Equal(3, ticks.Count);
        // The last three looks, in order: depth 70 (up to 7), depth 0 (held: cool-down), the failed reading (held, with its reason).
        Assert.Equal([70L, 0L, null], ticks.Select(t => t.Depth).ToArray());
        Assert.Equal([ScalingDirection.Up, ScalingDirection.Hold, ScalingDirection.Hold], ticks.Select(t => t.Direction).ToArray());
        Assert.Equal(7, ticks[0].Limit);
        Assert.Equal(4, ticks[0].PreviousLimit);
        Assert.EndsWith("down", ticks[2].Failure, StringComparison.Ordinal);
        Assert.Same(supervisor.LastTick, ticks[^1]);
        Assert.True(ticks[0].At < ticks[1].At && ticks[1].At < ticks[2].At);
    }

    [Fact]
    public async Task A_history_size_of_zero_keeps_none()
    {
        var supervisor = Supervisor(new ScriptedProbe(), historySize: 0, new FakeTimeProvider());
        await supervisor.TickAsync(CancellationToken.None);
        Assert.Empty(supervisor.RecentTicks);
        Assert.NotNull(supervisor.LastTick);
    }

    [Fact]
    public void A_negative_history_size_fails_naming_the_option()
    {
        var options = new SupervisorOptions { TickHistorySize = -1 };
        var error = Assert.Throws<PatternOptionsException>(() => options.EnsureValid());
        Assert.Contains("SupervisorOptions.TickHistorySize", error.Message, StringComparison.Ordinal);
        Assert.Contains("-1", error.Message, StringComparison.Ordinal);
    }
}
