using Microsoft.Playwright;

[assembly: AssemblyFixture(typeof(MassTransit.Patterns.Dashboard.BrowserTests.Browser))]

// One browser for the run; the tests start a host each and would only compete for the two cores.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace MassTransit.Patterns.Dashboard.BrowserTests;

/// <summary>
/// Debian's chromium (build/chromium.sh installs it; PATTERNS_CHROMIUM names it, default /usr/bin/chromium), headless,
/// driven by Playwright through the executable path: Playwright's own browser download is never used. Each test opens a
/// context of its own (cookies, storage) as one user.
/// </summary>
public sealed class Browser : IAsyncLifetime
{
    IPlaywright? _playwright;
    IBrowser? _browser;

    public static string ExecutablePath => Environment.GetEnvironmentVariable("PATTERNS_CHROMIUM") is { Length: > 0 } path ? path : "/usr/bin/chromium";

    /// <summary>Where screenshots go: artifacts/screenshots under the repository root.</summary>
    public static string ScreenshotFolder { get; } = FindScreenshotFolder();

    public async ValueTask InitializeAsync()
    {
        if (!File.Exists(ExecutablePath))
            throw new InvalidOperationException($"No browser at {ExecutablePath}: run build/chromium.sh (it installs Debian's chromium) or set PATTERNS_CHROMIUM.");
        // Two cores shared with other builds: give the page's own timers room before an expectation fails.
        Assertions.SetDefaultExpectTimeout(15_000);
        _playwright = await Playwright.CreateAsync();
        // Playwright adds --no-sandbox itself (ChromiumSandbox is off by default), which chromium needs as root.
        _browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions { ExecutablePath = ExecutablePath, Headless = true });
    }

    /// <summary>A fresh context signed in as <paramref name="user"/> (null: anonymous) for <paramref name="host"/>.</summary>
    public Task<IBrowserContext> ContextAsync(DashboardHost host, string? user) => ContextAsync(host.BaseAddress, user);

    /// <summary>A fresh context signed in as <paramref name="user"/> (null: anonymous) for the showcase.</summary>
    public Task<IBrowserContext> ContextAsync(ShowcaseHost host, string? user) => ContextAsync(host.BaseAddress, user);

    async Task<IBrowserContext> ContextAsync(Uri baseAddress, string? user)
    {
        var context = await _browser!.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = baseAddress.ToString(),
            ViewportSize = new ViewportSize { Width = 1280, Height = 900 }
        });
        context.SetDefaultTimeout(15_000);
        if (user is not null)
            await context.AddCookiesAsync([new Cookie { Name = TestUsers.CookieName, Value = user, Url = baseAddress.ToString() }]);
        return context;
    }

    public static Task ScreenshotAsync(IPage page, string name) =>
        page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(ScreenshotFolder, name + ".png"), FullPage = true });

    public async ValueTask DisposeAsync()
    {
        if (_browser is not null)
            await _browser.DisposeAsync();
        _playwright?.Dispose();
    }

    static string FindScreenshotFolder()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "MassTransit.Patterns.sln")))
            dir = dir.Parent;
        var folder = Path.Combine(dir?.FullName ?? AppContext.BaseDirectory, "artifacts", "screenshots");
        Directory.CreateDirectory(folder);
        return folder;
    }
}
