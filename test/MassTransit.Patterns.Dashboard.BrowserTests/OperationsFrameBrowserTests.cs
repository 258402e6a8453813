using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Workflow;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace MassTransit.Patterns.Dashboard.BrowserTests;

/// <summary>The operations view's frame on the running showcase: the navigation lists each pattern's page, and the live part refreshes without a reload.</summary>
public sealed class OperationsFrameBrowserTests(Browser browser)
{
    [Fact]
    public async Task The_workflow_page_shows_the_stores_counts_and_refreshes_them_live()
    {
        await using var host = await ShowcaseHost.StartAsync();
        await using var context = await browser.ContextAsync(host, TestUsers.ReadOnly);
        var page = await context.NewPageAsync();
        await page.GotoAsync(host.Console + "/ops");
        await Expect(page.Locator("[data-test=ops-page-workflow]")).ToBeVisibleAsync();
        await page.Locator("[data-test=nav-ops-workflow]").ClickAsync();
        var live = page.Locator("[data-test=ops-live]");
        var store = host.Services.GetRequiredService<IWorkflowMessageStore>();
        // Invoices keep failing into the store and nobody resolves them, so its AwaitingPerson count only grows. Read it,
        // wait for two refreshes of the live part (no reload), read it again: what the page shows lies between the two.
        await Eventually.True(async () => (await store.CountByStateAsync()).GetValueOrDefault("AwaitingPerson") > 0, TimeSpan.FromSeconds(30),
            "invoices wait for a person");
        var before = (await store.CountByStateAsync()).GetValueOrDefault("AwaitingPerson");
        var refreshes = int.Parse(await live.GetAttributeAsync("data-refresh-count") ?? "0", System.Globalization.CultureInfo.InvariantCulture);
        await Eventually.True(async () => int.Parse(await live.GetAttributeAsync("data-refresh-count") ?? "0", System.Globalization.CultureInfo.InvariantCulture) >= refreshes + 2,
            TimeSpan.FromSeconds(15), "the live part refreshes");
        var shown = long.Parse(await page.Locator("[data-test=workflow-count-AwaitingPerson]").GetAttributeAsync("data-value") ?? "-1",
            System.Globalization.CultureInfo.InvariantCulture);
        var after = (await store.CountByStateAsync()).GetValueOrDefault("AwaitingPerson");
        Assert.InRange(shown, before, after);
        Assert.Equal(host.Console + "/ops/workflow", page.Url); // refreshed in place, never reloaded
        await Browser.ScreenshotAsync(page, "ops-workflow");
    }
}
