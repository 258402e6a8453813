using MassTransit.Patterns.Configuration;
using Microsoft.AspNetCore.Builder;
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
}
