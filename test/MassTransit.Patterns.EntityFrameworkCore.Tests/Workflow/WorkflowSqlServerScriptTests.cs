using MassTransit.Patterns.EntityFrameworkCore.Workflow;
using MassTransit.Patterns.Workflow;
using Microsoft.EntityFrameworkCore;

namespace MassTransit.Patterns.EntityFrameworkCore.Tests.Workflow;

/// <summary>No SQL Server runs here: the workflow table it would create is checked offline.</summary>
public sealed class WorkflowSqlServerScriptTests
{
    sealed class SqlServerWorkflowDb(DbContextOptions<SqlServerWorkflowDb> options) : DbContext(options)
    {
        protected override void OnModelCreating(ModelBuilder modelBuilder) => modelBuilder.AddWorkflowEventEntities(schema: "repair");
    }

    [Fact]
    public void The_script_has_the_key_the_version_token_the_binary_body_and_the_state_index()
    {
        using var db = new SqlServerWorkflowDb(new DbContextOptionsBuilder<SqlServerWorkflowDb>()
            .UseSqlServer("Server=127.0.0.1,1;Database=never_connected;User Id=sa;Password=unused;TrustServerCertificate=True").Options);

        var script = db.Database.GenerateCreateScript();

        Assert.True(script.Contains("CREATE TABLE [repair].[WorkflowEvents]"), script);
        Assert.Contains("CONSTRAINT [PK_WorkflowEvents] PRIMARY KEY ([CorrelationId])", script);
        Assert.Contains("[Body] varbinary(max) NOT NULL", script);
        Assert.Contains("[Audit] nvarchar(max) NOT NULL", script);
        Assert.Contains("[CurrentState] nvarchar(64) NOT NULL", script);
        Assert.Contains("[Version] int NOT NULL", script);
        Assert.Contains("CREATE INDEX [IX_WorkflowEvents_State_ReceivedAt] ON [repair].[WorkflowEvents] ([CurrentState], [ReceivedAt], [CorrelationId])", script);
        Assert.True(db.Model.FindEntityType(typeof(WorkflowEventState))!.FindProperty("Version")!.IsConcurrencyToken);
    }
}
