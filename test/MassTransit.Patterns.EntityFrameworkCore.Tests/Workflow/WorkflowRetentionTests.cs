using MassTransit.Patterns.EntityFrameworkCore.Tests.Sagas;
using MassTransit.Patterns.EntityFrameworkCore.Workflow;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Workflow;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace MassTransit.Patterns.EntityFrameworkCore.Tests.Workflow;

/// <summary>
/// Resolved workflow rows do not pile up forever: past their retention, Completed and Discarded rows
/// are removed (in batches); rows resolved recently, and rows waiting for a person however old, stay.
/// </summary>
public sealed class WorkflowRetentionTests
{
    static WorkflowEventState Row(string state, DateTimeOffset received, DateTimeOffset? resolved) => new()
    {
        CorrelationId = NewId.NextGuid(),
        CurrentState = state,
        SourceAddress = "queue:parcels",
        ExceptionType = "BadParcelException",
        ExceptionMessage = "bad",
        ReceivedAt = received,
        UpdatedAt = resolved ?? received,
        ResolvedAt = resolved
    };

    [Theory]
    [InlineData(Store.Sqlite)]
    [InlineData(Store.PostgreSql)]
    public async Task Resolved_rows_past_their_retention_are_removed_and_waiting_or_recent_ones_kept(Store store)
    {
        await using var database = await ThrowawayDatabase<WorkflowDb>.CreateAsync(store == Store.PostgreSql, "wf_retention", o => new WorkflowDb(o));
        var services = new ServiceCollection().AddLogging().AddDbContext<WorkflowDb>(database.Configure);
        // A batch smaller than the expired rows, so more than one round is needed.
        services.AddWorkflowEventRetention<WorkflowDb>(o =>
        {
            o.Retention = TimeSpan.FromDays(7);
            o.BatchSize = 3;
        });
        await using var provider = services.BuildServiceProvider(true);

        var now = DateTimeOffset.UtcNow;
        var old = now - TimeSpan.FromDays(8);
        var expired = new[]
        {
            Row("Completed", old, old), Row("Completed", old, old), Row("Completed", old, old),
            Row("Discarded", old, old), Row("Discarded", old, old)
        };
        var kept = new[]
        {
            Row("Completed", old, now - TimeSpan.FromDays(1)),   // failed long ago, resolved recently
            Row("Discarded", now, now),
            Row("AwaitingPerson", old - TimeSpan.FromDays(30), null),
            Row("Resubmitted", old, null)
        };
        await using (var scope = provider.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<WorkflowDb>();
            db.AddRange(expired);
            db.AddRange(kept);
            await db.SaveChangesAsync();
        }

        var removed = await provider.GetRequiredService<WorkflowEventRetentionService<WorkflowDb>>().RemoveExpiredAsync(CancellationToken.None);

        Assert.Equal(expired.Length, removed);
        await using (var scope = provider.CreateAsyncScope())
        {
            var left = await scope.ServiceProvider.GetRequiredService<WorkflowDb>().Set<WorkflowEventState>().AsNoTracking()
                .Select(x => x.CorrelationId).ToListAsync();
            Assert.Equal(kept.Select(k => k.CorrelationId).Order(), left.Order());
        }
    }

    [Fact]
    public async Task A_retention_that_is_not_positive_fails_start_up_naming_the_option()
    {
        using var host = new HostBuilder()
            .ConfigureServices(s => s
                .AddDbContext<WorkflowDb>(o => o.UseSqlite("Data Source=:memory:"))
                .AddWorkflowEventRetention<WorkflowDb>(o => o.Retention = TimeSpan.Zero))
            .Build();

        var failure = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains("WorkflowEventRetentionOptions.Retention", failure.Message);
    }
}
