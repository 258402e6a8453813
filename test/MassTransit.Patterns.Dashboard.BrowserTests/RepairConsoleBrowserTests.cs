using System.Text.Json.Nodes;
using MassTransit.Patterns.Dashboard.BrowserTests.Messages;
using MassTransit.Patterns.Testing;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace MassTransit.Patterns.Dashboard.BrowserTests;

/// <summary>
/// The repair console in a real browser (Debian's chromium, headless, driven by Playwright) against an app hosted on
/// Kestrel at 127.0.0.1: what a person sees and does, and what the app refuses. Each test accounts for every message it sent.
/// </summary>
public sealed class RepairConsoleBrowserTests(Browser browser)
{
    static readonly TimeSpan Settle = TimeSpan.FromSeconds(20);

    static string Test(string name) => $"[data-test=\"{name}\"]";

    [Fact]
    public async Task A_person_filters_by_exception_type_opens_a_message_fixes_its_body_resubmits_it_and_sees_it_completed()
    {
        await using var host = await DashboardHost.StartAsync();
        host.Ledger.Up = false;
        var good = new[] { await host.SendAsync(new PayInvoice(1, 10, "acc-1")), await host.SendAsync(new PayInvoice(2, 20, "acc-2")) };
        var ledgerDown = new[] { await host.SendAsync(new PayInvoice(3, 30, "ledger-3")), await host.SendAsync(new PayInvoice(4, 40, "ledger-4")) };
        var wrongAmount = await host.SendAsync(new PayInvoice(5, -50, "acc-5"));
        await host.WaitForStateAsync([.. ledgerDown, wrongAmount], "AwaitingPerson", "the three bad invoices wait for a person");

        await using var context = await browser.ContextAsync(host, TestUsers.Operator);
        var page = await context.NewPageAsync();

        // Landing: counts per state, refreshed live.
        await page.GotoAsync(host.Console);
        await Expect(page.Locator(Test("state-count-AwaitingPerson")).Locator(Test("state-count-value"))).ToHaveTextAsync("3");
        await Browser.ScreenshotAsync(page, "landing");
        // A second window keeps the landing page open, never reloaded: its counts must follow the repair live. (Its own
        // context: a second tab of the same window would put the person's page in the background, where chromium
        // throttles timers and animation frames.)
        await using var landingContext = await browser.ContextAsync(host, TestUsers.Operator);
        var landing = await landingContext.NewPageAsync();
        await landing.GotoAsync(host.Console);
        var landingLoads = 0;
        landing.Load += (_, _) => Interlocked.Increment(ref landingLoads);

        // The list, filtered by exception type: only the wrong amount.
        await page.GotoAsync(host.Console + "/messages");
        await Expect(page.Locator(Test("message-row"))).ToHaveCountAsync(3);
        await page.Locator(Test("filter-exception-type")).FillAsync(typeof(InvalidAmountException).FullName!);
        await page.Locator(Test("filter-apply")).ClickAsync();
        var rows = page.Locator(Test("message-row"));
        await Expect(rows).ToHaveCountAsync(1);
        await Expect(rows.First).ToHaveAttributeAsync("data-id", wrongAmount.ToString());
        await Expect(rows.First.Locator(Test("row-exception-type"))).ToHaveTextAsync(typeof(InvalidAmountException).FullName!);
        await Browser.ScreenshotAsync(page, "list");

        // One message: its body, its exception; fixed and resubmitted.
        await rows.First.Locator(Test("message-link")).ClickAsync();
        await Expect(page.Locator(Test("message-state"))).ToHaveTextAsync("AwaitingPerson");
        await Expect(page.Locator(Test("exception-message"))).ToContainTextAsync("amount -50 of account acc-5 is not positive");
        await Browser.ScreenshotAsync(page, "message");
        var editor = page.Locator(Test("edit-body"));
        var body = JsonNode.Parse(await editor.InputValueAsync())!;
        Assert.Equal(-50, body["message"]!["amount"]!.GetValue<int>());
        body["message"]!["amount"] = 50;
        await editor.FillAsync(body.ToJsonString());
        await page.Locator(Test("edit-comment")).FillAsync("amount checked with the supplier");
        // An accepted change reloads the page (the answer shows only until then): wait for what the reloaded page shows.
        await page.Locator(Test("save-edit")).ClickAsync();
        await Expect(page.Locator(Test("audit-row") + "[data-action=\"edited\"]")).ToHaveCountAsync(1);
        await Expect(page.Locator(Test("message-body"))).ToContainTextAsync("\"amount\": 50");
        await page.Locator(Test("resubmit")).ClickAsync();
        await Expect(page.Locator(Test("audit-row") + "[data-action=\"resubmitted\"]")).ToHaveCountAsync(1);

        // The person sees it reach Completed (reloading, as a person would).
        await Eventually.True(async () =>
        {
            await page.ReloadAsync();
            return await page.Locator(Test("message-state")).TextContentAsync() == "Completed";
        }, Settle, "the resubmitted message shows Completed", TimeSpan.FromMilliseconds(200));
        await Expect(page.Locator(Test("audit-row")).Filter(new LocatorFilterOptions { HasText = "person:" + TestUsers.Operator }).First).ToBeVisibleAsync();
        Assert.Equal(50, host.Ledger.Amounts[wrongAmount]);
        await Expect(landing.Locator(Test("state-count-AwaitingPerson")).Locator(Test("state-count-value"))).ToHaveTextAsync("2");
        await Expect(landing.Locator(Test("state-count-Completed")).Locator(Test("state-count-value"))).ToHaveTextAsync("1");
        Assert.Equal(0, landingLoads);

        await host.Account(sent: [.. good, .. ledgerDown, wrongAmount], paid: [.. good, wrongAmount], waiting: ledgerDown)
            .AssertAllAccountedAsync(Settle);
    }

    [Fact]
    public async Task A_group_is_retried_and_every_member_completes_once()
    {
        await using var host = await DashboardHost.StartAsync();
        host.Ledger.Up = false;
        var ledgerDown = new List<Guid>();
        for (var n = 1; n <= 6; n++)
            ledgerDown.Add(await host.SendAsync(new PayInvoice(n, 10 * n, Ledger.LedgerAccountPrefix + n)));
        var wrongAmounts = new[] { await host.SendAsync(new PayInvoice(7, -7, "acc-7")), await host.SendAsync(new PayInvoice(8, 0, "acc-8")) };
        await host.WaitForStateAsync([.. ledgerDown, .. wrongAmounts], "AwaitingPerson", "every bad invoice waits for a person");

        // The ledger is back: the person retries the whole group of its failures.
        host.Ledger.Up = true;
        await using var context = await browser.ContextAsync(host, TestUsers.Operator);
        var page = await context.NewPageAsync();
        await page.GotoAsync(host.Console + "/groups?state=AwaitingPerson");
        var groups = page.Locator(Test("group-row"));
        await Expect(groups).ToHaveCountAsync(2);
        var ledgerGroup = groups.Filter(new LocatorFilterOptions { HasText = typeof(LedgerUnavailableException).FullName! });
        await Expect(ledgerGroup.Locator(Test("group-count"))).ToHaveTextAsync("6");
        var amountGroup = groups.Filter(new LocatorFilterOptions { HasText = typeof(InvalidAmountException).FullName! });
        await Expect(amountGroup.Locator(Test("group-count"))).ToHaveTextAsync("2");
        await Browser.ScreenshotAsync(page, "groups");

        await ledgerGroup.Locator(Test("group-retry")).ClickAsync();
        var progress = ledgerGroup.Locator(Test("bulk-progress"));
        await Expect(progress).ToHaveAttributeAsync("data-state", "Completed", new LocatorAssertionsToHaveAttributeOptions { Timeout = 20_000 });
        await Expect(progress).ToHaveAttributeAsync("data-succeeded", "6");
        await Expect(progress).ToHaveAttributeAsync("data-refused", "0");

        await host.WaitForStateAsync(ledgerDown, "Completed", "every member of the retried group completes");
        await page.ReloadAsync();
        await Expect(groups).ToHaveCountAsync(1);
        await Expect(groups.First.Locator(Test("group-exception-type"))).ToHaveTextAsync(typeof(InvalidAmountException).FullName!);

        // Each member paid exactly once (by message id), the other group untouched.
        await host.Account(sent: [.. ledgerDown, .. wrongAmounts], paid: ledgerDown, waiting: wrongAmounts).AssertAllAccountedAsync(Settle);
    }

    [Fact]
    public async Task A_body_with_a_script_tag_renders_as_text()
    {
        await using var host = await DashboardHost.StartAsync();
        const string Hostile = "<script>window.__pwned = 'script'</script><img src=x onerror=\"window.__pwned = 'img'\">";
        var id = await host.SendAsync(new PayInvoice(1, -1, Hostile));
        await host.WaitForStateAsync([id], "AwaitingPerson", "the hostile invoice waits for a person");

        await using var context = await browser.ContextAsync(host, TestUsers.Operator);
        var page = await context.NewPageAsync();
        var dialogs = 0;
        page.Dialog += (_, dialog) =>
        {
            Interlocked.Increment(ref dialogs);
            _ = dialog.DismissAsync();
        };

        // The list shows it in the exception message; the message page in the body, the exception and the editor.
        await page.GotoAsync(host.Console + "/messages");
        await Expect(page.Locator(Test("row-exception-message")).First).ToContainTextAsync(Hostile);
        await AssertNothingRanAsync(page);

        await page.GotoAsync(host.Console + "/messages/" + id);
        await Expect(page.Locator(Test("exception-message"))).ToContainTextAsync(Hostile);
        // The body is JSON: the text is there as the serializer wrote it (its < > may be \u escapes); as text, not markup.
        var shown = await page.Locator(Test("message-body")).TextContentAsync();
        var account = JsonNode.Parse(shown!)!["message"]!["account"]!.GetValue<string>();
        Assert.Equal(Hostile, account);
        var edited = JsonNode.Parse(await page.Locator(Test("edit-body")).InputValueAsync())!["message"]!["account"]!.GetValue<string>();
        Assert.Equal(Hostile, edited);
        await AssertNothingRanAsync(page);
        Assert.Equal(0, dialogs);

        await host.Account(sent: [id], paid: [], waiting: [id]).AssertAllAccountedAsync(Settle);
    }

    /// <summary>No injected script ran (the flag is unset) and the page holds no element the values carried.</summary>
    static async Task AssertNothingRanAsync(IPage page)
    {
        await page.WaitForLoadStateAsync(LoadState.Load);
        Assert.Equal("unset", await page.EvaluateAsync<string>("() => window.__pwned === undefined ? 'unset' : String(window.__pwned)"));
        Assert.Equal(0, await page.Locator("img[src=x]").CountAsync());
        // Only the console's own script, from the package.
        var scripts = await page.EvaluateAsync<string[]>("() => Array.from(document.scripts).map(s => s.src || 'inline:' + s.textContent)");
        Assert.All(scripts, s => Assert.EndsWith("/assets/dashboard.js", s));
    }

    [Fact]
    public async Task A_read_only_user_sees_no_edit_control_and_a_forged_request_is_refused()
    {
        await using var host = await DashboardHost.StartAsync();
        var id = await host.SendAsync(new PayInvoice(1, -10, "acc-1"));
        await host.WaitForStateAsync([id], "AwaitingPerson", "the invoice waits for a person");
        var before = (await host.FindAsync(id))!;

        // Victor reads everything and finds no control to change it.
        await using var viewer = await browser.ContextAsync(host, TestUsers.ReadOnly);
        var page = await viewer.NewPageAsync();
        await page.GotoAsync(host.Console + "/messages/" + id);
        await Expect(page.Locator(Test("message-state"))).ToHaveTextAsync("AwaitingPerson");
        await Expect(page.Locator(Test("message-body"))).ToContainTextAsync("acc-1");
        foreach (var control in new[] { "edit-form", "edit-body", "save-edit", "resubmit", "discard", "restore" })
            await Expect(page.Locator(Test(control))).ToHaveCountAsync(0);
        await page.GotoAsync(host.Console + "/messages");
        await Expect(page.Locator(Test("message-row"))).ToHaveCountAsync(1);
        await Expect(page.Locator(Test("bulk-controls"))).ToHaveCountAsync(0);
        await Expect(page.Locator(Test("select-row"))).ToHaveCountAsync(0);
        await page.GotoAsync(host.Console + "/groups");
        await Expect(page.Locator(Test("group-row"))).ToHaveCountAsync(1);
        await Expect(page.Locator(Test("group-retry"))).ToHaveCountAsync(0);
        await Expect(page.Locator(Test("group-discard"))).ToHaveCountAsync(0);

        // Victor forges the requests the page would send, with a valid antiforgery token of his own session: 403.
        var victorToken = await page.Locator("meta[name=\"patterns-antiforgery\"]").GetAttributeAsync("content");
        Assert.False(string.IsNullOrEmpty(victorToken));
        var api = host.Console + "/api/messages/" + id;
        // A valid edit (the stored envelope with the amount fixed), so that only the refusal stops it.
        var fixedBody = JsonNode.Parse(before.Body!)!;
        fixedBody["message"]!["amount"] = 10;
        var edit = new Dictionary<string, object> { ["body"] = fixedBody.ToJsonString(), ["expectedVersion"] = before.Version };
        foreach (var (action, payload) in new (string, object)[] { ("edit", edit), ("resubmit", new { }), ("discard", new { reason = "forged" }) })
        {
            var response = await viewer.APIRequest.PostAsync(api + "/" + action, new APIRequestContextOptions
            {
                DataObject = payload,
                Headers = new Dictionary<string, string> { ["RequestVerificationToken"] = victorToken! }
            });
            Assert.True(response.Status == 403, $"{action} by the read-only user: {response.Status} {await response.TextAsync()}");
        }
        var bulk = await viewer.APIRequest.PostAsync(host.Console + "/api/bulk", new APIRequestContextOptions
        {
            DataObject = new { action = "retry", ids = new[] { id } },
            Headers = new Dictionary<string, string> { ["RequestVerificationToken"] = victorToken! }
        });
        Assert.True(bulk.Status == 403, $"bulk retry by the read-only user: {bulk.Status} {await bulk.TextAsync()}");

        // Olivia may change it, but a request without the antiforgery token (what another site's form or script would
        // send with her cookie) is refused: 400, before anything is done.
        await using var operatorContext = await browser.ContextAsync(host, TestUsers.Operator);
        var operatorPage = await operatorContext.NewPageAsync();
        await operatorPage.GotoAsync(host.Console + "/messages/" + id);
        await Expect(operatorPage.Locator(Test("edit-form"))).ToHaveCountAsync(1);
        foreach (var (action, payload) in new (string, object)[] { ("edit", edit), ("resubmit", new { }), ("discard", new { reason = "forged" }) })
        {
            var response = await operatorContext.APIRequest.PostAsync(api + "/" + action, new APIRequestContextOptions { DataObject = payload });
            Assert.True(response.Status == 400, $"{action} without an antiforgery token: {response.Status} {await response.TextAsync()}");
            var wrongToken = await operatorContext.APIRequest.PostAsync(api + "/" + action, new APIRequestContextOptions
            {
                DataObject = payload,
                Headers = new Dictionary<string, string> { ["RequestVerificationToken"] = victorToken! }
            });
            Assert.True(wrongToken.Status == 400, $"{action} with another session's antiforgery token: {wrongToken.Status} {await wrongToken.TextAsync()}");
        }

        // Nothing changed: same state, version and body, no person in the audit, nothing paid.
        var after = (await host.FindAsync(id))!;
        Assert.Equal("AwaitingPerson", after.Summary!.State);
        Assert.Equal(before.Version, after.Version);
        Assert.Equal(before.Body, after.Body);
        Assert.DoesNotContain(after.Audit, a => a.Actor.StartsWith("person:", StringComparison.Ordinal));
        await host.Account(sent: [id], paid: [], waiting: [id]).AssertAllAccountedAsync(Settle);
    }
}
