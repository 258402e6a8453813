extern alias showcase;

using System.Globalization;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Watch;
using Microsoft.Extensions.DependencyInjection;
using showcase::MassTransit.Patterns.Showcase.Dashboard.Workloads;
using static Microsoft.Playwright.Assertions;

namespace MassTransit.Patterns.Dashboard.BrowserTests;

/// <summary>The watch operations page on the running showcase: keys, versions, watchers per key and pruned watchers, refreshed live.</summary>
public sealed class WatchOperationsBrowserTests(Browser browser)
{
    [Fact]
    public async Task The_watch_page_shows_the_stores_keys_versions_watchers_and_pruned_live()
    {
        await using var host = await ShowcaseHost.StartAsync([new WatchWorkload()]);
        var source = Assert.Single(host.Services.GetServices<IWatchSourceView>());
        Assert.Equal(WatchWorkload.SourceName, source.Name);
        // Five steady watchers on their keys, and a crashed watcher pruned when its lease ended.
        await Eventually.True(async () =>
        {
            var keys = await ListAsync(source);
            return keys.Count == WatchWorkload.Keys.Length && keys["pricing/eu"].Watchers == 2 && keys["limits/api"].Watchers == 1 && source.PrunedExpired >= 1;
        }, TimeSpan.FromSeconds(45), "every key set, the steady watchers registered and a crashed watcher pruned");

        await using var context = await browser.ContextAsync(host, TestUsers.ReadOnly);
        var page = await context.NewPageAsync();
        await page.GotoAsync(host.Console + "/ops/watch");
        var live = page.Locator("[data-test=ops-live]");
        var section = page.Locator($"[data-test=watch-source][data-source='{WatchWorkload.SourceName}']");
        await Expect(section).ToBeVisibleAsync();

        // Read the store, let the page refresh twice (no reload), read the page, read the store again: versions and the
        // pruned count only grow, so each shown value lies between the two reads; the steady keys' watchers are as read.
        var before = await ListAsync(source);
        var prunedBefore = source.PrunedExpired;
        var start = Int(await live.GetAttributeAsync("data-refresh-count"));
        await Eventually.True(async () => Int(await live.GetAttributeAsync("data-refresh-count")) >= start + 2, TimeSpan.FromSeconds(15), "the live part refreshes");
        var rows = await section.Locator("[data-test=watch-row]").AllAsync();
        var shown = new Dictionary<string, (long Version, int Watchers)>(StringComparer.Ordinal);
        foreach (var row in rows)
            shown[(await row.GetAttributeAsync("data-key"))!] = (Long(await row.Locator("[data-test=watch-version]").GetAttributeAsync("data-value")),
                Int(await row.Locator("[data-test=watch-key-watchers]").GetAttributeAsync("data-value")));
        var pruned = Long(await section.Locator("[data-test=watch-pruned-expired]").GetAttributeAsync("data-value"));
        var after = await ListAsync(source);
        var prunedAfter = source.PrunedExpired;

        Assert.Equal(WatchWorkload.Keys.Order(StringComparer.Ordinal), shown.Keys.Order(StringComparer.Ordinal));
        foreach (var (key, value) in shown)
            Assert.InRange(value.Version, before[key].Version, after[key].Version);
        Assert.True(after.Values.Sum(k => k.Version) > before.Values.Sum(k => k.Version), "the settings keep changing");
        foreach (var key in new[] { "pricing/eu", "pricing/us", "flags/checkout", "limits/api" })
        {
            Assert.Equal(before[key].Watchers, after[key].Watchers);
            Assert.Equal(after[key].Watchers, shown[key].Watchers);
        }
        Assert.Equal(2, shown["pricing/us"].Watchers);
        Assert.InRange(pruned, prunedBefore, prunedAfter);
        Assert.True(pruned >= 1, "the crashed watcher is counted as pruned");
        Assert.Equal(host.Console + "/ops/watch", page.Url);
        await Browser.ScreenshotAsync(page, "ops-watch");
    }

    static async Task<Dictionary<string, WatchKeyInfo>> ListAsync(IWatchSourceView source) =>
        (await source.Store.ListKeysAsync(source.Name, DateTime.UtcNow, 100)).ToDictionary(k => k.Key, StringComparer.Ordinal);

    static int Int(string? value) => value is null ? 0 : int.Parse(value, CultureInfo.InvariantCulture);

    static long Long(string? value) => value is null ? -1 : long.Parse(value, CultureInfo.InvariantCulture);
}
