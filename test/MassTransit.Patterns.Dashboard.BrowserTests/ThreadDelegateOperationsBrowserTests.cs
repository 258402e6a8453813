extern alias showcase;

using System.Globalization;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.ThreadDelegate;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using showcase::MassTransit.Patterns.Showcase.Dashboard.Workloads;
using static Microsoft.Playwright.Assertions;

namespace MassTransit.Patterns.Dashboard.BrowserTests;

/// <summary>The thread delegate's operations page on the running showcase: lanes and buffers live, a held key released from the page.</summary>
public sealed class ThreadDelegateOperationsBrowserTests(Browser browser)
{
    static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_held_key_released_from_the_page_flows_again()
    {
        await using var host = await ShowcaseHost.StartAsync([new ThreadDelegateWorkload()]);
        var control = host.Services.GetRequiredService<ThreadDelegateControl>();
        var desk = host.Services.GetRequiredService<ThreadDelegateWorkload.LedgerErrorDesk>();
        var book = host.Services.GetRequiredService<ThreadDelegateWorkload.LedgerBook>();
        var endpoint = await host.Services.GetRequiredService<IBus>().GetSendEndpoint(new Uri($"exchange:{ThreadDelegateWorkload.Queue}"));

        // A key of the test's own: its first posting is refused, so the key is held; its next five fault to the error
        // queue behind it (in order) and wait at the workload's error desk for the release.
        var key = "test-" + Guid.NewGuid().ToString("N")[..8];
        var refused = NewId.NextGuid();
        await endpoint.Send(new LedgerPosting(key, 0, 0m), c => c.MessageId = refused);
        await Eventually.True(() => control.HeldKeys.Any(h => h.Key == key), Deadline, $"{key} is held after its refused posting");
        var waiting = Enumerable.Range(0, 5).Select(_ => NewId.NextGuid()).ToArray();
        for (var i = 0; i < waiting.Length; i++)
        {
            var id = waiting[i];
            await endpoint.Send(new LedgerPosting(key, i + 1, 10m + i), c => c.MessageId = id);
        }
        await Eventually.True(() => desk.WaitingOf(key).Count == waiting.Length, Deadline,
            $"the held key's postings wait at the error desk, in order");
        Assert.Equal(waiting, desk.WaitingOf(key));
        var held = Assert.Single(control.HeldKeys, h => h.Key == key);
        Assert.Equal(refused, held.FailedMessageId);

        await using var context = await browser.ContextAsync(host, TestUsers.Operator);
        var page = await context.NewPageAsync();
        await page.GotoAsync(host.Console + "/ops/thread-delegate");
        var live = page.Locator("[data-test=ops-live]");
        var row = page.Locator($"[data-test=thread-delegate-held-row][data-key='{key}']");
        await Expect(row).ToBeVisibleAsync();
        Assert.Equal(held.FailedMessageId.ToString(), await row.GetAttributeAsync("data-failed-message-id"));
        Assert.Equal(ThreadDelegateWorkload.Queue, await row.GetAttributeAsync("data-queue"));

        // The endpoint's row: the lanes the component has, and values read after two live refreshes within what it can show.
        await WaitForRefreshesAsync(live, 2);
        var lanes = control.Snapshot()[ThreadDelegateWorkload.Queue].WaitingPerLane.Count;
        var endpointRow = page.Locator($"[data-test=thread-delegate-row][data-queue='{ThreadDelegateWorkload.Queue}']");
        Assert.Equal(lanes, Int(await endpointRow.Locator("[data-test=thread-delegate-lanes-busy]").GetAttributeAsync("data-lanes")));
        Assert.InRange(Int(await endpointRow.Locator("[data-test=thread-delegate-lanes-busy]").GetAttributeAsync("data-value")), 0, lanes);
        Assert.True(Int(await endpointRow.Locator("[data-test=thread-delegate-keys-held]").GetAttributeAsync("data-value")) >= 1, "the test's key is held");
        await Browser.ScreenshotAsync(page, "ops-thread-delegate");

        // Release from the page: the answer, the audit, the key gone from the component and the page, and its postings applied.
        await row.Locator("[data-test=thread-delegate-release]").ClickAsync();
        var result = page.Locator("[data-test=ops-action-result]");
        await Expect(result).ToHaveAttributeAsync("data-status", "200");
        await Expect(result).ToContainTextAsync(key);
        Assert.DoesNotContain(control.HeldKeys, h => h.Key == key);
        await Expect(row).ToHaveCountAsync(0);
        Assert.Equal(host.Console + "/ops/thread-delegate", page.Url);

        await Eventually.True(() => waiting.All(book.Applied), Deadline,
            $"the released key's waiting postings are applied ({waiting.Count(book.Applied)} of {waiting.Length})");
        await page.ReloadAsync();
        var audit = page.Locator("[data-test=ops-audit-row][data-action=release]");
        await Expect(audit).ToHaveCountAsync(1);
        await Expect(audit.Locator("[data-test=ops-audit-actor]")).ToHaveTextAsync(TestUsers.Operator);
        await Expect(audit.Locator("[data-test=ops-audit-target]")).ToHaveTextAsync(ThreadDelegateWorkload.Queue + "/" + key);

        // Every posting of the key accounted for: the refused one at the desk (not applied), the five applied once each
        // after one trip through the error queue, none waiting and nothing else of the key anywhere.
        Assert.Equal("refused", desk.Arrived[refused]);
        Assert.False(book.Applied(refused));
        Assert.All(waiting, id => Assert.Equal("held", desk.Arrived[id]));
        Assert.All(waiting, id => Assert.Equal(1, desk.Replayed[id]));
        Assert.Empty(desk.WaitingOf(key));
        Assert.Equal(1 + waiting.Length, desk.Arrived.Keys.Count(id => id == refused || waiting.Contains(id)));
        Assert.DoesNotContain(control.HeldKeys, h => h.Key == key);
    }

    [Fact]
    public async Task A_read_only_user_sees_held_keys_without_a_release_button_and_a_forged_release_is_forbidden()
    {
        await using var host = await ShowcaseHost.StartAsync([new ThreadDelegateWorkload()]);
        var control = host.Services.GetRequiredService<ThreadDelegateControl>();
        var endpoint = await host.Services.GetRequiredService<IBus>().GetSendEndpoint(new Uri($"exchange:{ThreadDelegateWorkload.Queue}"));
        var key = "test-" + Guid.NewGuid().ToString("N")[..8];
        await endpoint.Send(new LedgerPosting(key, 0, -5m));
        await Eventually.True(() => control.HeldKeys.Any(h => h.Key == key), Deadline, $"{key} is held after its refused posting");

        await using var context = await browser.ContextAsync(host, TestUsers.ReadOnly);
        var page = await context.NewPageAsync();
        await page.GotoAsync(host.Console + "/ops/thread-delegate");
        var row = page.Locator($"[data-test=thread-delegate-held-row][data-key='{key}']");
        await Expect(row).ToBeVisibleAsync();
        await WaitForRefreshesAsync(page.Locator("[data-test=ops-live]"), 1);
        await Expect(page.Locator("[data-test=thread-delegate-release]")).ToHaveCountAsync(0);

        // The page's own antiforgery token, the action's URL and a well-formed body: refused by the operate policy.
        var status = await page.EvaluateAsync<int>(@"async ([url, body]) => {
            const meta = document.querySelector('meta[name=""patterns-antiforgery""]');
            const r = await fetch(url, { method: 'POST', credentials: 'same-origin',
                headers: { 'Content-Type': 'application/json', [meta.getAttribute('data-header')]: meta.getAttribute('content') }, body });
            return r.status; }",
            new[] { ShowcaseHost.Prefix + "/api/ops/thread-delegate/release", $"{{\"endpoint\":\"{ThreadDelegateWorkload.Queue}\",\"key\":\"{key}\"}}" });
        Assert.Equal(403, status);
        Assert.Contains(control.HeldKeys, h => h.Key == key);
    }

    static async Task WaitForRefreshesAsync(ILocator live, int count)
    {
        var start = Int(await live.GetAttributeAsync("data-refresh-count"));
        await Eventually.True(async () => Int(await live.GetAttributeAsync("data-refresh-count")) >= start + count, TimeSpan.FromSeconds(15), "the live part refreshes");
    }

    static int Int(string? value) => value is null ? 0 : int.Parse(value, CultureInfo.InvariantCulture);
}
