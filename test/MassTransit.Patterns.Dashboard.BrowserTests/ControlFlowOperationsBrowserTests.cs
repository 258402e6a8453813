extern alias showcase;

using System.Collections.Concurrent;
using System.Globalization;
using MassTransit.Patterns.ControlFlow;
using MassTransit.Patterns.ControlFlow.Contracts;
using MassTransit.Patterns.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using showcase::MassTransit.Patterns.Showcase.Dashboard.Workloads;

namespace MassTransit.Patterns.Dashboard.BrowserTests;

/// <summary>The producer control-flow page on the running showcase: the state, marks, lease and throttling shown are the monitor's and the store's.</summary>
public sealed class ControlFlowOperationsBrowserTests(Browser browser)
{
    const string Queue = ControlFlowWorkload.Queue;

    [Fact]
    public async Task The_control_flow_page_shows_a_throttled_queues_state_and_its_throttled_producers_refreshed_live()
    {
        await using var host = await ShowcaseHost.StartAsync([new ControlFlowWorkload()]);
        await using var context = await browser.ContextAsync(host, TestUsers.ReadOnly);
        var page = await context.NewPageAsync();
        await page.GotoAsync(host.Console + "/ops");
        await page.Locator("[data-test=nav-ops-control-flow]").ClickAsync();
        var live = page.Locator("[data-test=ops-live]");
        var store = host.Services.GetRequiredService<FlowControlStateStore>();
        var monitor = host.Services.GetRequiredService<FlowMonitor>();
        var traffic = host.Services.GetRequiredService<ControlFlowWorkload.Traffic>();

        // The producer outruns the slow consumer: the queue turns slow (or stopped) and sends are held. While it is
        // throttled well above the low watermark, stall its consumer (the depth then cannot fall back to normal: the
        // consumer takes at most one more) and then its producer: the depth, and with it the state, stay.
        await Eventually.True(() =>
        {
            if (store.Get(Queue).State == FlowState.Normal || store.Throttling(Queue).Throttled == 0)
                return false;
            traffic.ConsumerPaused = true;
            var held = monitor.Snapshot().Single(f => f.Queue == Queue);
            if (held.State != FlowState.Normal && held.Depth > ControlFlowWorkload.LowWatermark + 10)
                return true;
            traffic.ConsumerPaused = false;
            return false;
        }, TimeSpan.FromSeconds(60), "the watched queue throttles its producer");
        traffic.Paused = true;
        try
        {
            // Settled: the consumer holds a reading, and two readings of the monitor in a row saw the same depth.
            FlowQueueSnapshot? last = null;
            await Eventually.True(() =>
            {
                var now = monitor.Snapshot().Single(f => f.Queue == Queue);
                var steady = traffic.ConsumerParked && last is { } l && now.LastReadingAt > l.LastReadingAt && now.Depth == l.Depth;
                last = now;
                return steady;
            }, TimeSpan.FromSeconds(15), "the depth settles");

            var statements = new ConcurrentQueue<FlowControlStateChanged>();
            void OnApplied(FlowControlStateChanged s)
            {
                if (s.Queue == Queue)
                    statements.Enqueue(s);
            }

            store.Applied += OnApplied;
            var before = store.Get(Queue);
            var throttlingBefore = store.Throttling(Queue);
            await RefreshedTwiceAsync(live);
            var row = page.Locator($"[data-test=control-flow-row][data-queue={Queue}]");
            var shown = await row.EvaluateAsync<string[]>("""
                r => ['state', 'depth', 'throttled', 'rejected', 'lease'].map(k => r.querySelector('[data-test=control-flow-' + k + ']').dataset.value)
                    .concat(['high', 'low', 'stop'].map(k => r.querySelector('[data-test=control-flow-marks]').dataset[k]))
                """);
            var after = store.Get(Queue);
            var throttlingAfter = store.Throttling(Queue);
            var watched = monitor.Snapshot().Single(f => f.Queue == Queue);
            store.Applied -= OnApplied;

            // The state the producers obey: the one held before, after, or stated in between (renewals only, here).
            var states = statements.Select(s => s.State).Append(before.State).Append(after.State).Distinct().ToArray();
            Assert.Contains(Enum.Parse<FlowState>(shown[0]), states);
            Assert.NotEqual(FlowState.Normal, Enum.Parse<FlowState>(shown[0]));
            Assert.Equal(watched.State, after.State);
            var depths = statements.Select(s => s.Depth).Append(before.Statement!.Depth).Append(after.Statement!.Depth).Append(watched.Depth).ToHashSet();
            Assert.Contains(long.Parse(shown[1], CultureInfo.InvariantCulture), depths);
            Assert.InRange(long.Parse(shown[2], CultureInfo.InvariantCulture), throttlingBefore.Throttled, throttlingAfter.Throttled);
            Assert.True(long.Parse(shown[2], CultureInfo.InvariantCulture) > 0, "producers were throttled");
            Assert.InRange(long.Parse(shown[3], CultureInfo.InvariantCulture), throttlingBefore.Rejected, throttlingAfter.Rejected);
            var leases = statements.Select(s => s.LeaseExpiresAt).Append(before.Statement.LeaseExpiresAt).Append(after.Statement.LeaseExpiresAt).ToHashSet();
            Assert.Contains(DateTimeOffset.Parse(shown[4], CultureInfo.InvariantCulture), leases);
            Assert.Equal([watched.HighWatermark, watched.LowWatermark, watched.StopMark!.Value],
                shown[5..].Select(v => long.Parse(v, CultureInfo.InvariantCulture)).ToArray());
            Assert.Equal([ControlFlowWorkload.HighWatermark, ControlFlowWorkload.LowWatermark, ControlFlowWorkload.StopMark],
                [watched.HighWatermark, watched.LowWatermark, watched.StopMark.Value]);
            Assert.Equal(0, await page.Locator("[data-ops-action]").CountAsync()); // no actions on this page, for anyone
            Assert.Equal(host.Console + "/ops/control-flow", page.Url); // refreshed in place, never reloaded
            await Browser.ScreenshotAsync(page, "ops-control-flow");
        }
        finally
        {
            traffic.ConsumerPaused = false;
            traffic.Paused = false;
        }
    }

    static async Task RefreshedTwiceAsync(ILocator live)
    {
        var refreshes = int.Parse(await live.GetAttributeAsync("data-refresh-count") ?? "0", CultureInfo.InvariantCulture);
        await Eventually.True(async () => int.Parse(await live.GetAttributeAsync("data-refresh-count") ?? "0", CultureInfo.InvariantCulture) >= refreshes + 2,
            TimeSpan.FromSeconds(15), "the live part refreshes");
    }
}
