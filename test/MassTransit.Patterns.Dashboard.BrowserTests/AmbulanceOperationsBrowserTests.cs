extern alias showcase;

using System.Globalization;
using MassTransit.Patterns.Ambulance;
using MassTransit.Patterns.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using showcase::MassTransit.Patterns.Showcase.Dashboard.Workloads;

namespace MassTransit.Patterns.Dashboard.BrowserTests;

/// <summary>The ambulance lane's page on the running showcase: lane depth, urgent wait percentiles, mode and slot budget are the lane's own.</summary>
public sealed class AmbulanceOperationsBrowserTests(Browser browser)
{
    [Fact]
    public async Task The_ambulance_page_shows_the_lanes_urgent_wait_percentiles_mode_and_slot_budget_refreshed_live()
    {
        await using var host = await ShowcaseHost.StartAsync([new AmbulanceWorkload()]);
        await using var context = await browser.ContextAsync(host, TestUsers.ReadOnly);
        var page = await context.NewPageAsync();
        await page.GotoAsync(host.Console + "/ops");
        await page.Locator("[data-test=nav-ops-ambulance]").ClickAsync();
        var live = page.Locator("[data-test=ops-live]");
        var registry = host.Services.GetRequiredService<AmbulanceLaneRegistry>();
        var traffic = host.Services.GetRequiredService<AmbulanceWorkload.Traffic>();

        // Express orders go through the lane beside a backlog of standard ones. Once 20 were picked, stop sending them
        // and wait until every express order sent was picked: the lane is then empty and its waits stay what they are.
        await Eventually.True(() => traffic.ExpressPicked >= 20, TimeSpan.FromSeconds(60), "express orders go through the lane");
        traffic.UrgentPaused = true;
        await Eventually.True(() => traffic.ExpressPicked == traffic.ExpressSent && registry.Snapshot().Single().LaneDepth == 0,
            TimeSpan.FromSeconds(30), "every express order sent is picked");

        var before = registry.Snapshot().Single();
        await RefreshedTwiceAsync(live);
        var row = page.Locator($"[data-test=ambulance-row][data-queue={AmbulanceWorkload.Queue}]");
        var shown = await row.EvaluateAsync<string[]>("""
            r => ['p50', 'p99', 'depth', 'mode', 'budget'].map(k => r.querySelector('[data-test=ambulance-' + k + ']').dataset.value)
                .concat([r.querySelector('[data-test=ambulance-budget]').dataset.queueSlots, r.querySelector('[data-test=ambulance-budget]').dataset.laneSlots,
                         r.dataset.lane])
            """);
        var after = registry.Snapshot().Single();

        // No urgent message in between: the lane's percentiles did not move, and the page shows them.
        Assert.Equal(before.UrgentWaitP50Ms, after.UrgentWaitP50Ms);
        Assert.Equal(before.UrgentWaitP99Ms, after.UrgentWaitP99Ms);
        Assert.NotNull(after.UrgentWaitP50Ms);
        Assert.Equal(Math.Min(traffic.ExpressPicked, AmbulanceLaneRegistry.UrgentWaitsKept), after.UrgentWaitSamples);
        Assert.Equal(after.UrgentWaitP50Ms!.Value, double.Parse(shown[0], CultureInfo.InvariantCulture));
        Assert.Equal(after.UrgentWaitP99Ms!.Value, double.Parse(shown[1], CultureInfo.InvariantCulture));
        Assert.True(after.UrgentWaitP99Ms >= after.UrgentWaitP50Ms);
        Assert.Equal(0, int.Parse(shown[2], CultureInfo.InvariantCulture));
        Assert.Equal(after.Mode.ToString(), shown[3]);
        Assert.Equal(AmbulanceMode.Ambulance, after.Mode);
        Assert.Equal(after.SlotBudget, int.Parse(shown[4], CultureInfo.InvariantCulture));
        Assert.Equal([AmbulanceWorkload.QueueSlots, AmbulanceWorkload.LaneSlots], [after.QueueSlots, after.LaneSlots]);
        Assert.Equal([after.QueueSlots, after.LaneSlots], [int.Parse(shown[5], CultureInfo.InvariantCulture), int.Parse(shown[6], CultureInfo.InvariantCulture)]);
        Assert.Equal(after.Lane, shown[7]);
        Assert.Equal(0, await page.Locator("[data-ops-action]").CountAsync()); // no actions on this page, for anyone
        Assert.Equal(host.Console + "/ops/ambulance", page.Url); // refreshed in place, never reloaded
        await Browser.ScreenshotAsync(page, "ops-ambulance");
    }

    static async Task RefreshedTwiceAsync(ILocator live)
    {
        var refreshes = int.Parse(await live.GetAttributeAsync("data-refresh-count") ?? "0", CultureInfo.InvariantCulture);
        await Eventually.True(async () => int.Parse(await live.GetAttributeAsync("data-refresh-count") ?? "0", CultureInfo.InvariantCulture) >= refreshes + 2,
            TimeSpan.FromSeconds(15), "the live part refreshes");
    }
}
