extern alias showcase;

using System.Globalization;
using MassTransit.Patterns.Contextual;
using MassTransit.Patterns.Testing;
using Microsoft.Extensions.DependencyInjection;
using showcase::MassTransit.Patterns.Showcase.Dashboard.Workloads;
using static Microsoft.Playwright.Assertions;

namespace MassTransit.Patterns.Dashboard.BrowserTests;

/// <summary>The contextual queues' operations page on the running showcase: queues per context, buckets, retired, default queue, refreshed live.</summary>
public sealed class ContextualOperationsBrowserTests(Browser browser)
{
    [Fact]
    public async Task The_contextual_page_shows_the_routings_queues_and_counters_live()
    {
        await using var host = await ShowcaseHost.StartAsync([new ContextualWorkload()]);
        var routing = host.Services.GetRequiredService<ContextualRouting<TenantExport>>();
        // Tenants take turns going quiet: wait for the cap to fill, a bucket, and a first idle queue retired.
        await Eventually.True(() => routing.IsConfigured && routing.Queues.Any(q => q.IsBucket) && routing.RetiredCount >= 1, TimeSpan.FromSeconds(45),
            "context queues, a bucket and a retired queue");

        await using var context = await browser.ContextAsync(host, TestUsers.ReadOnly);
        var page = await context.NewPageAsync();
        await page.GotoAsync(host.Console + "/ops/contextual");
        var live = page.Locator("[data-test=ops-live]");
        var section = page.Locator($"[data-test=contextual-routing][data-message-type={nameof(TenantExport)}]");
        await Expect(section).ToBeVisibleAsync();

        // Read the routing, let the page refresh twice (no reload), read its values, read the routing again: every counter
        // that only grows lies between the two reads, and every queue shown existed in one of them.
        var before = Read(routing);
        var start = Int(await live.GetAttributeAsync("data-refresh-count"));
        await Eventually.True(async () => Int(await live.GetAttributeAsync("data-refresh-count")) >= start + 2, TimeSpan.FromSeconds(15), "the live part refreshes");
        var retired = Long(await section.Locator("[data-test=contextual-retired]").GetAttributeAsync("data-value"));
        var defaultConsumed = Long(await section.Locator("[data-test=contextual-default-consumed]").GetAttributeAsync("data-value"));
        var rows = await section.Locator("[data-test=contextual-row]").AllAsync();
        var shown = new Dictionary<string, (string Kind, long Consumed, int Contexts)>(StringComparer.OrdinalIgnoreCase);
        foreach (var row in rows)
            shown[(await row.GetAttributeAsync("data-queue"))!] = ((await row.GetAttributeAsync("data-kind"))!,
                Long(await row.Locator("[data-test=contextual-consumed]").GetAttributeAsync("data-value")),
                Int(await row.Locator("[data-test=contextual-contexts]").GetAttributeAsync("data-value")));
        var after = Read(routing);

        Assert.InRange(retired, before.Retired, after.Retired);
        Assert.True(retired >= 1, "a retired queue is counted");
        Assert.InRange(defaultConsumed, before.DefaultConsumed, after.DefaultConsumed);
        Assert.NotEmpty(shown);
        foreach (var (name, value) in shown)
        {
            var earlier = before.Queues.GetValueOrDefault(name);
            var later = after.Queues.GetValueOrDefault(name);
            Assert.True(earlier is not null || later is not null, $"{name} is shown but the routing has no such queue");
            var info = (later ?? earlier)!;
            Assert.Equal(info.IsBucket ? "bucket" : info.IsStatic ? "static" : "dynamic", value.Kind);
            if (earlier is not null && later is not null && later.Consumed >= earlier.Consumed) // the same queue, not retired and created again
                Assert.InRange(value.Consumed, earlier.Consumed, later.Consumed);
        }
        // The queues present in both reads (not retired in between) are all shown, and the buckets with them.
        foreach (var name in before.Queues.Keys.Intersect(after.Queues.Keys, StringComparer.OrdinalIgnoreCase))
            Assert.True(shown.ContainsKey(name), $"{name} exists in both reads but is not shown");
        Assert.Contains(shown.Values, v => v.Kind == "bucket");
        Assert.Equal(routing.Options.DefaultQueueName, await section.Locator("[data-test=contextual-default-queue]").TextContentAsync());
        Assert.Equal(host.Console + "/ops/contextual", page.Url);
        await Browser.ScreenshotAsync(page, "ops-contextual");
    }

    static (long Retired, long DefaultConsumed, Dictionary<string, ContextQueueInfo> Queues) Read(ContextualRouting routing) =>
        (routing.RetiredCount, routing.DefaultConsumed, routing.Queues.ToDictionary(q => q.QueueName, StringComparer.OrdinalIgnoreCase));

    static int Int(string? value) => value is null ? 0 : int.Parse(value, CultureInfo.InvariantCulture);

    static long Long(string? value) => value is null ? -1 : long.Parse(value, CultureInfo.InvariantCulture);
}
