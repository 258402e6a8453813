using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using MassTransit.Patterns.Configuration;
using MassTransit.Patterns.Dashboard.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Dashboard.Tests;

/// <summary>The operations view's frame: the pages of the patterns in use, their JSON, their live part, the navigation.</summary>
public sealed class OperationsFrameTests
{
    const string Ops = DashboardHost.Prefix + "/ops";
    const string Api = DashboardHost.Prefix + "/api/ops";

    [Fact]
    public async Task The_workflow_page_shows_the_stores_counts_as_json_page_and_live_fragment()
    {
        await using var host = DashboardHost.WithPolicies();
        var ids = await host.FailedOrdersAsync(3);
        var viewer = await host.ClientAsync("vera", "viewer");

        var pages = (await viewer.GetFromJsonAsync<JsonArray>(Api, DashboardHost.Json))!;
        Assert.Contains(pages, p => (string)p!["slug"]! == "workflow");

        var state = (await viewer.GetFromJsonAsync<JsonObject>(Api + "/workflow", DashboardHost.Json))!;
        Assert.Equal(ids.Count, (long)state["counts"]!["AwaitingPerson"]!);
        Assert.Equal(0, (long)state["counts"]!["Completed"]!);
        Assert.NotNull((string?)state["oldestAwaitingPerson"]);

        var page = await viewer.GetAsync(Ops + "/workflow");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        var html = await page.Content.ReadAsStringAsync();
        Assert.Contains("data-test=\"nav-ops-workflow\"", html, StringComparison.Ordinal);
        Assert.Contains("data-live-url=\"/patterns/ops/workflow/live\"", html, StringComparison.Ordinal);
        Assert.Contains("data-test=\"workflow-count-AwaitingPerson\" data-value=\"3\"", html, StringComparison.Ordinal);
        Assert.Contains("default-src 'none'", page.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);

        // The live part alone: the same values, no page shell.
        var live = await viewer.GetStringAsync(Ops + "/workflow/live");
        Assert.Contains("data-test=\"workflow-count-AwaitingPerson\" data-value=\"3\"", live, StringComparison.Ordinal);
        Assert.DoesNotContain("<html", live, StringComparison.Ordinal);
        Assert.Contains("href=\"/patterns/messages?state=AwaitingPerson\"", live, StringComparison.Ordinal);

        var overview = await viewer.GetStringAsync(Ops);
        Assert.Contains("data-test=\"ops-page-workflow\"", overview, StringComparison.Ordinal);
        Assert.Contains("data-test=\"ops-audit-empty\"", overview, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_anonymous_request_for_an_operations_page_or_its_json_is_refused()
    {
        await using var host = DashboardHost.WithPolicies();
        var anonymous = await host.ClientAsync(null, antiforgery: false);
        foreach (var url in new[] { Ops, Ops + "/workflow", Ops + "/workflow/live", Api, Api + "/workflow", Api + "/audit" })
            Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync(url)).StatusCode);
    }

    [Fact]
    public void Invalid_operations_options_fail_naming_the_option_and_its_value()
    {
        var error = Assert.Throws<PatternOptionsException>(() => new ServiceCollection().AddPatternsDashboard(o =>
        {
            o.OperationsRefreshInterval = TimeSpan.FromMilliseconds(10);
            o.OperationsAuditSize = 0;
            o.Policies.Operate = " ";
        }));
        Assert.Contains("PatternsDashboardOptions.OperationsRefreshInterval", error.Message, StringComparison.Ordinal);
        Assert.Contains("00:00:00.0100000", error.Message, StringComparison.Ordinal);
        Assert.Contains("PatternsDashboardOptions.OperationsAuditSize", error.Message, StringComparison.Ordinal);
        Assert.Contains("PatternsDashboardOptions.Policies.Operate", error.Message, StringComparison.Ordinal);
    }
}
