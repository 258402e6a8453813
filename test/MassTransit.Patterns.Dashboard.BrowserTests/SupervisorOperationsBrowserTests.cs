extern alias showcase;

using System.Globalization;
using MassTransit.Patterns.Supervisor;
using MassTransit.Patterns.Supervisor.Fleet;
using MassTransit.Patterns.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using showcase::MassTransit.Patterns.Showcase.Dashboard.Workloads;
using static Microsoft.Playwright.Assertions;

namespace MassTransit.Patterns.Dashboard.BrowserTests;

/// <summary>The supervisor's operations page on the running showcase: what it shows is what the supervisors and the fleet saga hold.</summary>
public sealed class SupervisorOperationsBrowserTests(Browser browser)
{
    [Fact]
    public async Task The_supervisor_page_shows_the_limit_a_burst_set_its_decisions_and_the_fleet_shares_refreshed_live()
    {
        await using var host = await ShowcaseHost.StartAsync([new SupervisorWorkload()]);
        await using var context = await browser.ContextAsync(host, TestUsers.ReadOnly);
        var page = await context.NewPageAsync();
        await page.GotoAsync(host.Console + "/ops");
        await page.Locator("[data-test=nav-ops-supervisor]").ClickAsync();
        var live = page.Locator("[data-test=ops-live]");
        var registry = host.Services.GetRequiredService<ConsumerSupervisorRegistry>();
        var alone = registry.Get(SupervisorWorkload.Queue);
        var fleet = registry.Get(SupervisorWorkload.FleetQueue);

        // The workload's first burst (300 thumbnails, 10 per consumer wanted) lifts the limit above the minimum.
        await Eventually.True(() => alone.Limit > SupervisorWorkload.MinConsumers, TimeSpan.FromSeconds(30), "the burst scales the supervisor up");
        await Eventually.True(() => fleet.LastTick?.FleetTarget is > SupervisorWorkload.MinConsumers, TimeSpan.FromSeconds(30),
            "the fleet saga raises its target for the burst");

        // The limit moves while the burst drains: every limit in force from the read before to the read after is a
        // tick's limit in that span (the limit changes only at a look), or the limit read at either end.
        var since = alone.LastTick!.At;
        var limitBefore = alone.Limit;
        var fleetSince = fleet.LastTick!.At;
        var targetBefore = (await LoadFleetAsync(host)).Target;
        await RefreshedTwiceAsync(live);
        var row = page.Locator($"[data-test=supervisor-row][data-queue={SupervisorWorkload.Queue}]");
        var shownLimit = await ValueAsync(row.Locator("[data-test=supervisor-limit]"));
        var fleetRow = page.Locator($"[data-test=supervisor-row][data-queue={SupervisorWorkload.FleetQueue}]");
        // Read together, from one rendering of the fleet.
        var fleetShown = await fleetRow.EvaluateAsync<string[]>("""
            r => [r.querySelector('[data-test=supervisor-fleet-target]').dataset.value,
                  r.querySelector('[data-test=supervisor-fleet-instances]').dataset.value,
                  r.querySelector('[data-test=supervisor-fleet-instance]').dataset.share,
                  r.querySelector('[data-test=supervisor-fleet-instance]').dataset.instance]
            """);
        var shownTarget = long.Parse(fleetShown[0], CultureInfo.InvariantCulture);
        var shownInstances = long.Parse(fleetShown[1], CultureInfo.InvariantCulture);
        var shownShare = long.Parse(fleetShown[2], CultureInfo.InvariantCulture);
        var shownInstance = fleetShown[3];
        var limitAfter = alone.Limit;
        var saga = await LoadFleetAsync(host);
        var targetAfter = saga.Target;

        var limitsInForce = alone.RecentTicks.Where(t => t.At >= since).Select(t => t.Limit).Append(limitBefore).Append(limitAfter).ToHashSet();
        Assert.Contains((int)shownLimit, limitsInForce);
        var targets = fleet.RecentTicks.Where(t => t.At >= fleetSince && t.FleetTarget is not null).Select(t => t.FleetTarget!.Value)
            .Append(targetBefore).Append(targetAfter).ToHashSet();
        Assert.Contains((int)shownTarget, targets);
        // One instance in the fleet: its share is the whole target.
        Assert.Equal(1, saga.InstanceCount);
        Assert.Equal(1, shownInstances);
        Assert.Equal($"{Environment.MachineName}-showcase", shownInstance);
        Assert.Equal(shownTarget, shownShare);

        // The decisions shown are the supervisor's own: the burst's scale-up is among them, with its reason.
        var up = row.Locator("[data-test=supervisor-decision][data-direction=Up]").First;
        await Expect(up).ToBeVisibleAsync();
        var upLimit = int.Parse(await up.GetAttributeAsync("data-limit") ?? "-1", CultureInfo.InvariantCulture);
        Assert.Contains(alone.RecentTicks, t => t.Direction == ScalingDirection.Up && t.Limit == upLimit);
        await Expect(up.Locator("[data-test=supervisor-decision-reason]")).ToContainTextAsync("depth ");
        Assert.Equal(alone.ProbeFailures, await ValueAsync(row.Locator("[data-test=supervisor-probe-failures]")));
        Assert.True(int.Parse(await row.Locator("[data-test=supervisor-chart]").GetAttributeAsync("data-points") ?? "0", CultureInfo.InvariantCulture) >= 2);
        Assert.Equal(0, await page.Locator("[data-ops-action]").CountAsync()); // no actions on this page, for anyone
        Assert.Equal(host.Console + "/ops/supervisor", page.Url); // refreshed in place, never reloaded
        await Browser.ScreenshotAsync(page, "ops-supervisor");
    }

    static async Task<ConsumerSupervisorState> LoadFleetAsync(ShowcaseHost host)
    {
        await using var scope = host.Services.CreateAsyncScope();
        var repository = scope.ServiceProvider.GetRequiredService<ILoadSagaRepository<ConsumerSupervisorState>>();
        return await repository.Load(ConsumerSupervisorState.CorrelationIdOf(SupervisorWorkload.FleetQueue))
            ?? throw new InvalidOperationException("The fleet saga has no instance for the queue.");
    }

    static async Task<long> ValueAsync(ILocator locator) =>
        long.Parse(await locator.GetAttributeAsync("data-value") ?? "-1", CultureInfo.InvariantCulture);

    static async Task RefreshedTwiceAsync(ILocator live)
    {
        var refreshes = int.Parse(await live.GetAttributeAsync("data-refresh-count") ?? "0", CultureInfo.InvariantCulture);
        await Eventually.True(async () => int.Parse(await live.GetAttributeAsync("data-refresh-count") ?? "0", CultureInfo.InvariantCulture) >= refreshes + 2,
            TimeSpan.FromSeconds(15), "the live part refreshes");
    }
}
