using System.Net;
using MassTransit.Patterns.Configuration;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Dashboard.Tests;

/// <summary>What cannot be known makes start-up fail, saying what is missing.</summary>
public sealed class DashboardStartupTests
{
    [Fact]
    public async Task Mapping_without_a_workflow_store_or_client_fails_naming_what_is_missing()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Services.AddPatternsDashboard();
        await using var app = builder.Build();

        var error = Assert.Throws<InvalidOperationException>(() => app.MapPatternsDashboard("/patterns"));
        Assert.Contains("IWorkflowMessageStore", error.Message, StringComparison.Ordinal);

        var withStore = WebApplication.CreateSlimBuilder();
        withStore.Services.AddPatternsDashboard();
        withStore.Services.AddWorkflowMessageStoreOverSagaRepository();
        await using var app2 = withStore.Build();
        var noClient = Assert.Throws<InvalidOperationException>(() => app2.MapPatternsDashboard("/patterns"));
        Assert.Contains("WorkflowEventClient", noClient.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_policy_that_is_not_registered_fails_at_start_up()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Services.AddPatternsDashboard(o => o.Policies.Edit = "operators");
        builder.Services.AddWorkflowMessageStoreOverSagaRepository();
        builder.Services.AddMassTransit(x =>
        {
            x.AddWorkflowEventProcessor().InMemoryRepository();
            x.UsingInMemory();
        });
        await using var app = builder.Build();

        var error = Assert.Throws<InvalidOperationException>(() => app.MapPatternsDashboard("/patterns"));
        Assert.Contains("Policies.Edit", error.Message, StringComparison.Ordinal);
        Assert.Contains("'operators'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Invalid_options_fail_naming_the_option_and_its_value()
    {
        var services = new ServiceCollection();
        var error = Assert.Throws<PatternOptionsException>(() => services.AddPatternsDashboard(o =>
        {
            o.BulkRatePerSecond = 0;
            o.MaxBodyBytes = -1;
        }));
        Assert.Contains("PatternsDashboardOptions.BulkRatePerSecond", error.Message, StringComparison.Ordinal);
        Assert.Contains("(was 0)", error.Message, StringComparison.Ordinal);
        Assert.Contains("PatternsDashboardOptions.MaxBodyBytes", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_console_works_in_an_app_built_with_the_slim_builder()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseTestServer();
        builder.Services.AddMassTransit(x =>
        {
            x.AddWorkflowEventProcessor().InMemoryRepository();
            x.UsingInMemory((context, cfg) => cfg.ConfigureEndpoints(context));
        });
        builder.Services.AddWorkflowMessageStoreOverSagaRepository();
        builder.Services.AddPatternsDashboard(o => o.ActorWhenAnonymous = "ops");
        builder.Services.AddOpenApi(); // the app's own document, v1
        await using var app = builder.Build();
        app.MapOpenApi();
        app.MapPatternsDashboard("/patterns");
        await app.StartAsync();
        var client = app.GetTestClient();

        foreach (var url in new[] { "/patterns/", "/patterns/messages", "/patterns/groups", "/patterns/api/counts", "/patterns/api/openapi/patterns-dashboard.json" })
        {
            var response = await client.GetAsync(url);
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{url}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
        // The app's document stays where the app put it, not under the console's prefix (and its policies).
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/openapi/v1.json")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/patterns/api/openapi/v1.json")).StatusCode);
        Assert.DoesNotContain("/patterns/api", await client.GetStringAsync("/openapi/v1.json"), StringComparison.Ordinal);
        await app.StopAsync();
    }
}
