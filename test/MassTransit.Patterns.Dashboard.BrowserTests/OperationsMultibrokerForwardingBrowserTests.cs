extern alias showcase;

using System.Globalization;
using MassTransit.Patterns.EventForwarding;
using MassTransit.Patterns.Multibroker;
using MassTransit.Patterns.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using showcase::MassTransit.Patterns.Showcase.Dashboard.Workloads;
using static Microsoft.Playwright.Assertions;

namespace MassTransit.Patterns.Dashboard.BrowserTests;

/// <summary>The multibroker and event forwarding pages on the running showcase: what they show matches the components' own state, refreshed live.</summary>
public sealed class OperationsMultibrokerForwardingBrowserTests(Browser browser)
{
    static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    static async Task<int> RefreshesAsync(ILocator live) =>
        int.Parse(await live.GetAttributeAsync("data-refresh-count") ?? "0", CultureInfo.InvariantCulture);

    /// <summary>Waits until the live part has been re-rendered <paramref name="count"/> more times (no reload).</summary>
    static async Task WaitForRefreshesAsync(ILocator live, int count = 2)
    {
        var start = await RefreshesAsync(live);
        await Eventually.True(async () => await RefreshesAsync(live) >= start + count, TimeSpan.FromSeconds(15), "the live part refreshes");
    }

    static async Task<string> ValueAsync(IPage page, string selector) =>
        await page.Locator(selector).GetAttributeAsync("data-value") ?? throw new InvalidOperationException(selector + " has no data-value");

    static async Task<long> LongAsync(IPage page, string selector) => long.Parse(await ValueAsync(page, selector), CultureInfo.InvariantCulture);

    static string Row(string broker, string what) => $"[data-test=multibroker-row][data-key={broker}] [data-test=multibroker-{what}]";

    [Fact]
    public async Task An_operator_ejects_a_broker_from_the_page_it_gets_no_sends_while_held_then_readmits_it()
    {
        await using var host = await ShowcaseHost.StartAsync([new MultibrokerWorkload()]);
        await using var context = await browser.ContextAsync(host, TestUsers.Operator);
        var page = await context.NewPageAsync();
        var multibroker = host.Services.GetRequiredService<IMultibroker>();
        var alpha = multibroker.Brokers.Single(b => b.Name == "alpha");
        var beta = multibroker.Brokers.Single(b => b.Name == "beta");
        await Eventually.True(() => alpha.Sent > 0 && beta.Sent > 0, Wait, "transfers go through alpha and beta");

        await page.GotoAsync(host.Console + "/ops/multibroker");
        var live = page.Locator("[data-test=ops-live]");
        // Alpha and beta are never faulted by the workload: their state is steady; their sends only grow, so what the page shows lies between two reads.
        var sentBefore = alpha.Sent;
        await WaitForRefreshesAsync(live);
        var shownSent = await LongAsync(page, Row("alpha", "sent"));
        Assert.InRange(shownSent, sentBefore, alpha.Sent);
        Assert.Equal(alpha.State.ToString(), await ValueAsync(page, Row("alpha", "state")));
        Assert.Equal(beta.State.ToString(), await ValueAsync(page, Row("beta", "state")));
        Assert.Equal(BrokerState.Healthy, alpha.State);

        await page.Locator(Row("alpha", "eject")).ClickAsync();
        var result = page.Locator("[data-test=ops-action-result]");
        await Expect(result).ToHaveAttributeAsync("data-outcome", "accepted");
        Assert.Equal(BrokerState.Held, alpha.State);
        await Expect(page.Locator(Row("alpha", "state"))).ToHaveAttributeAsync("data-value", "Held");
        await Expect(page.Locator(Row("alpha", "readmit"))).ToBeVisibleAsync();

        // While held, alpha gets nothing (its count stands still while beta's grows), and the page shows its count.
        var heldAt = alpha.Sent;
        var betaAt = beta.Sent;
        await WaitForRefreshesAsync(live, 3);
        await Eventually.True(() => beta.Sent > betaAt, Wait, "beta keeps getting transfers");
        Assert.Equal(heldAt, alpha.Sent);
        Assert.Equal(heldAt, await LongAsync(page, Row("alpha", "sent")));
        Assert.Equal(alpha.Ejections, await LongAsync(page, Row("alpha", "ejections")));
        Assert.Equal("Held", await ValueAsync(page, Row("alpha", "state")));
        Assert.Equal(host.Console + "/ops/multibroker", page.Url); // refreshed in place, never reloaded
        await Browser.ScreenshotAsync(page, "ops-multibroker");

        // The audit (rendered with the page) names the operator, the action and the broker.
        await page.ReloadAsync();
        var audit = page.Locator("[data-test=ops-audit-row][data-action=eject]");
        await Expect(audit).ToHaveCountAsync(1);
        await Expect(audit.Locator("[data-test=ops-audit-actor]")).ToHaveTextAsync(TestUsers.Operator);
        await Expect(audit.Locator("[data-test=ops-audit-target]")).ToHaveTextAsync("alpha");

        await page.Locator(Row("alpha", "readmit")).ClickAsync();
        await Expect(page.Locator("[data-test=ops-action-result]")).ToHaveAttributeAsync("data-outcome", "accepted");
        Assert.Equal(BrokerState.Healthy, alpha.State);
        await Expect(page.Locator(Row("alpha", "state"))).ToHaveAttributeAsync("data-value", "Healthy");
        await Eventually.True(() => alpha.Sent > heldAt, Wait, "alpha gets transfers again once readmitted");
        await WaitForRefreshesAsync(live, 1);
        Assert.Equal(1, alpha.Rejoins);
        Assert.Equal(alpha.Rejoins, await LongAsync(page, Row("alpha", "rejoins")));
        await page.ReloadAsync();
        await Expect(page.Locator("[data-test=ops-audit-row][data-action=readmit]")).ToHaveCountAsync(1);
    }

    [Fact]
    public async Task The_event_forwarding_page_shows_the_outbox_deliveries_lag_and_suppressed_copies_and_refreshes_them_live()
    {
        await using var host = await ShowcaseHost.StartAsync([new EventForwardingWorkload()]);
        await using var context = await browser.ContextAsync(host, TestUsers.ReadOnly);
        var page = await context.NewPageAsync();
        var delivery = Assert.Single(host.Services.GetServices<IOutboxDelivery>());
        var backlog = Assert.Single(host.Services.GetServices<IOutboxBacklog>());
        var totals = host.Services.GetRequiredService<EventForwardingTotals>();
        // The burst at 2.5 s carries resent copies (every 25th order): the inbox suppresses them.
        await Eventually.True(() => delivery.Read().Delivered > 0 && totals.InboxDuplicatesSuppressed > 0, Wait, "orders forwarded, copies suppressed");

        await page.GotoAsync(host.Console + "/ops/event-forwarding");
        var live = page.Locator("[data-test=ops-live]");
        var row = $"[data-test=event-forwarding-row][data-key={delivery.Name}]";
        // Delivered, confirmed and suppressed only grow: what the page shows lies between a read before and one after two refreshes.
        var before = (delivery.Read(), totals.Confirmed, totals.InboxDuplicatesSuppressed);
        await WaitForRefreshesAsync(live);
        var shownDelivered = await LongAsync(page, row + " [data-test=event-forwarding-delivered]");
        var shownConfirmed = await LongAsync(page, "[data-test=event-forwarding-confirmed]");
        var shownSuppressed = await LongAsync(page, "[data-test=event-forwarding-duplicates]");
        var after = (delivery.Read(), totals.Confirmed, totals.InboxDuplicatesSuppressed);
        Assert.InRange(shownDelivered, before.Item1.Delivered, after.Item1.Delivered);
        Assert.InRange(shownConfirmed, before.Item2, after.Item2);
        Assert.InRange(shownSuppressed, before.Item3, after.Item3);
        Assert.True(shownSuppressed > 0);
        var p50 = double.Parse(await ValueAsync(page, row + " [data-test=event-forwarding-lag-p50]"), CultureInfo.InvariantCulture);
        var p99 = double.Parse(await ValueAsync(page, row + " [data-test=event-forwarding-lag-p99]"), CultureInfo.InvariantCulture);
        Assert.InRange(p50, 0, p99);
        Assert.InRange(p99, 0, Wait.TotalMilliseconds);

        // The backlog goes up with each burst and back down: compare it when two reads around a refresh agree.
        await Eventually.True(async () =>
        {
            var first = (await backlog.ReadAsync()).Pending;
            await WaitForRefreshesAsync(live, 1);
            var shown = await LongAsync(page, row + " [data-test=event-forwarding-backlog]");
            var second = (await backlog.ReadAsync()).Pending;
            return first == second && shown == first;
        }, Wait, "the page's backlog is the reader's");
        Assert.Equal(host.Console + "/ops/event-forwarding", page.Url); // refreshed in place, never reloaded
        await Browser.ScreenshotAsync(page, "ops-event-forwarding");
    }
}
