using System.Diagnostics;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Tests.Messages;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Tests.Testing;

/// <summary>
/// The reads tests use on the harness's message lists (test/Shared/HarnessMessages.cs) instead of its synchronous
/// Select, which can deadlock against the harness's inactivity notification.
/// </summary>
public sealed class HarnessMessagesTests
{
    sealed class WorkItemConsumer : IConsumer<WorkItem>
    {
        public Task Consume(ConsumeContext<WorkItem> context) => Task.CompletedTask;
    }

    static async Task<(ServiceProvider Provider, ITestHarness Harness)> StartAsync(TimeSpan inactivity)
    {
        var provider = new ServiceCollection()
            .AddMassTransitTestHarness(x =>
            {
                x.AddConsumer<WorkItemConsumer>();
                x.SetTestTimeouts(testTimeout: TimeSpan.FromSeconds(30), testInactivityTimeout: inactivity);
            })
            .BuildServiceProvider(true);
        var harness = provider.GetRequiredService<ITestHarness>();
        await harness.Start();
        return (provider, harness);
    }

    [Fact]
    public async Task Now_reads_what_the_list_holds_without_waiting_for_inactivity_or_the_test_timeout()
    {
        var (provider, harness) = await StartAsync(inactivity: TimeSpan.FromSeconds(20));
        await using var _ = provider;

        await harness.Bus.Publish(new WorkItem(1));
        await Eventually.True(async () => (await harness.Consumed.Now<WorkItem>()).Count == 1, TimeSpan.FromSeconds(10), "the item is consumed");

        var watch = Stopwatch.StartNew();
        var none = await harness.Consumed.Now<WorkItem>(x => x.Context.Message.Number == 2);
        var sent = await harness.Sent.Now<WorkItem>();
        var published = await harness.Published.Now<WorkItem>();
        watch.Stop();

        Assert.Empty(none);
        Assert.Empty(sent);
        Assert.Equal([1], published.Select(p => p.Context.Message.Number));
        Assert.False(harness.InactivityToken.IsCancellationRequested, "the harness was still active, so a waiting read would have blocked");
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"three reads took {watch.Elapsed}; a waiting read takes the 20 s inactivity timeout");
    }

    [Fact]
    public async Task Settled_collects_every_match_and_returns_when_the_harness_goes_quiet_during_the_read()
    {
        var (provider, harness) = await StartAsync(inactivity: TimeSpan.FromSeconds(1));
        await using var _ = provider;

        // Started before anything is consumed, so the harness's inactivity notification arrives while the read waits:
        // the moment the synchronous Select deadlocks on.
        var settled = harness.Consumed.Settled<WorkItem>();
        for (var i = 0; i < 3; i++)
            await harness.Bus.Publish(new WorkItem(i));

        var finished = await Task.WhenAny(settled, Task.Delay(TimeSpan.FromSeconds(25)));
        Assert.Same(settled, finished);
        Assert.True(harness.InactivityToken.IsCancellationRequested, "the read ended on the harness's inactivity, not its test timeout");
        Assert.Equal([0, 1, 2], (await settled).Select(c => c.Context.Message.Number).Order());
    }
}
