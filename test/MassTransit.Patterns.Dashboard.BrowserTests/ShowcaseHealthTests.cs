extern alias showcase;

using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Workflow;
using Microsoft.Extensions.DependencyInjection;
using showcase::MassTransit.Patterns.Showcase.Dashboard;
using showcase::MassTransit.Patterns.Showcase.Dashboard.Workloads;

namespace MassTransit.Patterns.Dashboard.BrowserTests;

/// <summary>
/// The showcase registers the patterns' health checks and answers them at <see cref="DashboardShowcase.HealthPath"/>
/// with each check's reason (plain HttpClient, no browser): with invoices waiting for a person, the workflow check is
/// Degraded saying how many, as the store counts them; the checks of patterns the app does not use say so.
/// </summary>
public sealed class ShowcaseHealthTests
{
    [Fact]
    public async Task The_health_endpoint_reports_the_workflow_check_degraded_with_the_stores_count_as_its_reason()
    {
        await using var host = await ShowcaseHost.StartAsync([new WorkflowWorkload()]);
        using var http = new HttpClient { BaseAddress = host.BaseAddress };
        var store = host.Services.GetRequiredService<IWorkflowMessageStore>();
        await Eventually.True(async () => (await store.CountByStateAsync()).GetValueOrDefault("AwaitingPerson") > 0, TimeSpan.FromSeconds(60),
            "invoices wait for a person");

        // The store's count before and after the health request bound the count the check's reason names.
        var before = (await store.CountByStateAsync()).GetValueOrDefault("AwaitingPerson");
        using var response = await http.GetAsync(DashboardShowcase.HealthPath);
        var after = (await store.CountByStateAsync()).GetValueOrDefault("AwaitingPerson");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode); // Degraded answers 200; only Unhealthy answers 503
        var report = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("Degraded", report.GetProperty("status").GetString());
        var workflow = report.GetProperty("checks").GetProperty("patterns-workflow");
        Assert.Equal("Degraded", workflow.GetProperty("status").GetString());
        var reason = workflow.GetProperty("description").GetString()!;
        var named = System.Text.RegularExpressions.Regex.Match(reason, @"^(\d+) workflow message\(s\) wait for a person");
        Assert.True(named.Success, $"the reason names the count waiting for a person: {reason}");
        Assert.InRange(long.Parse(named.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), before, after);

        // The multibroker is not used by this app: its check is not run and says so.
        var multibroker = report.GetProperty("checks").GetProperty("patterns-multibroker");
        Assert.Equal("Healthy", multibroker.GetProperty("status").GetString());
        Assert.Contains("Not checked", multibroker.GetProperty("description").GetString(), StringComparison.Ordinal);
    }
}
