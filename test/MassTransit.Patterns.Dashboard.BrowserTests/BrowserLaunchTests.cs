using Microsoft.Playwright;

namespace MassTransit.Patterns.Dashboard.BrowserTests;

public sealed class BrowserLaunchTests
{
    [Fact]
    public async Task Debian_chromium_launches_headless_and_renders_a_page()
    {
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Environment.GetEnvironmentVariable("PATTERNS_CHROMIUM") ?? "/usr/bin/chromium",
            Headless = true,
            // Playwright passes --no-sandbox itself (ChromiumSandbox is off by default): root needs nothing more.
        });
        var page = await browser.NewPageAsync();
        await page.SetContentAsync("<p id='x'>hello</p><script>document.getElementById('x').textContent = 'ran';</script>");
        Assert.Equal("ran", await page.TextContentAsync("#x"));
    }
}
