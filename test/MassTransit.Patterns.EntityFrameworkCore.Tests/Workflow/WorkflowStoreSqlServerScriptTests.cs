using MassTransit.Patterns.EntityFrameworkCore.Workflow;
using MassTransit.Patterns.Workflow;
using Microsoft.EntityFrameworkCore;

namespace MassTransit.Patterns.EntityFrameworkCore.Tests.Workflow;

/// <summary>No SQL Server runs here: the workflow store's statements and the indexes it reads by are generated offline.</summary>
public sealed class WorkflowStoreSqlServerScriptTests
{
    sealed class SqlServerDb(DbContextOptions<SqlServerDb> options) : DbContext(options)
    {
        protected override void OnModelCreating(ModelBuilder modelBuilder) => modelBuilder.AddWorkflowEventEntities(schema: "repair");
    }

    static SqlServerDb Open() => new(new DbContextOptionsBuilder<SqlServerDb>()
        .UseSqlServer("Server=127.0.0.1,1;Database=never_connected;User Id=sa;Password=unused;TrustServerCertificate=True").Options);

    static readonly WorkflowMessageFilter Everything = new()
    {
        State = "AwaitingPerson",
        MessageType = "urn:message:App:ShipParcel",
        ExceptionType = "App.BadParcelException",
        SourceAddress = "rabbitmq://localhost/parcels",
        From = DateTimeOffset.UtcNow.AddDays(-1),
        To = DateTimeOffset.UtcNow,
        Search = "weight"
    };

    [Fact]
    public void A_page_with_every_filter_and_the_search_is_one_statement_ordered_by_the_column_then_the_id_with_offset_and_fetch()
    {
        using var db = Open();

        var sql = EntityFrameworkWorkflowMessageStore<SqlServerDb>
            .PageQuery(db, EntityFrameworkWorkflowMessageStore<SqlServerDb>.Filter(db, Everything), WorkflowMessageSort.UpdatedAt, true, false, 3, 50)
            .ToQueryString();

        Assert.True(sql.Contains("FROM [repair].[WorkflowEvents] AS [w]", StringComparison.Ordinal), sql);
        // The page's ids are picked in a subquery (every filter, the order, the offset), then only its rows are read.
        Assert.Contains("WHERE [w].[CorrelationId] IN (", sql);
        Assert.Contains("[w0].[CurrentState] = @", sql);
        Assert.Contains("[w0].[ExceptionType] = @", sql);
        Assert.Contains("[w0].[ReceivedAt] >= @", sql);
        Assert.Contains("[w0].[ReceivedAt] < @", sql);
        Assert.Contains("CHARINDEX(@", sql);
        Assert.Contains("[w0].[Body]) > 0", sql);
        Assert.Contains("LOWER([w0].[ExceptionMessage])", sql);
        Assert.Contains("ORDER BY [w0].[UpdatedAt] DESC, [w0].[CorrelationId] DESC", sql);
        Assert.Contains("ORDER BY [w].[UpdatedAt] DESC, [w].[CorrelationId] DESC", sql);
        Assert.Contains("OFFSET ", sql);
        Assert.Contains("FETCH NEXT ", sql);
        Assert.DoesNotContain("[w].[Audit]", sql);
        Assert.DoesNotContain("[w].[Body],", sql);
    }

    [Theory]
    [InlineData(WorkflowGrouping.ExceptionAndMessageType, "GROUP BY [w].[ExceptionType], [w].[MessageType]")]
    [InlineData(WorkflowGrouping.SourceQueue, "GROUP BY [w].[SourceAddress]")]
    public void Each_grouping_is_counted_by_the_database_largest_first(WorkflowGrouping grouping, string groupBy)
    {
        using var db = Open();

        var sql = EntityFrameworkWorkflowMessageStore<SqlServerDb>
            .GroupQuery(EntityFrameworkWorkflowMessageStore<SqlServerDb>.Filter(db, Everything with { Search = null }), grouping)
            .ToQueryString();

        Assert.True(sql.Contains(groupBy, StringComparison.Ordinal), sql);
        Assert.Contains("COUNT_BIG(*)", sql);
        Assert.Contains("MIN([w].[ReceivedAt])", sql);
        Assert.Contains("MAX([w].[ReceivedAt])", sql);
        Assert.Contains("ORDER BY COUNT_BIG(*) DESC", sql);
    }

    [Fact]
    public void The_script_creates_the_indexes_the_screens_read_by()
    {
        using var db = Open();

        var script = db.Database.GenerateCreateScript();

        foreach (var index in new[]
                 {
                     "[IX_WorkflowEvents_State_ReceivedAt] ON [repair].[WorkflowEvents] ([CurrentState], [ReceivedAt], [CorrelationId])",
                     "[IX_WorkflowEvents_State_ExceptionType] ON [repair].[WorkflowEvents] ([CurrentState], [ExceptionType], [ReceivedAt], [CorrelationId])",
                     "[IX_WorkflowEvents_ExceptionType_MessageType] ON [repair].[WorkflowEvents] ([ExceptionType], [MessageType], [ReceivedAt], [CorrelationId])",
                     "[IX_WorkflowEvents_MessageType] ON [repair].[WorkflowEvents] ([MessageType], [ReceivedAt], [CorrelationId])",
                     "[IX_WorkflowEvents_SourceAddress] ON [repair].[WorkflowEvents] ([SourceAddress], [ReceivedAt], [CorrelationId])",
                     "[IX_WorkflowEvents_ReceivedAt] ON [repair].[WorkflowEvents] ([ReceivedAt], [CorrelationId])",
                     "[IX_WorkflowEvents_UpdatedAt] ON [repair].[WorkflowEvents] ([UpdatedAt], [CorrelationId])"
                 })
            Assert.True(script.Contains("CREATE INDEX " + index, StringComparison.Ordinal), index + "\n" + script);
    }
}
