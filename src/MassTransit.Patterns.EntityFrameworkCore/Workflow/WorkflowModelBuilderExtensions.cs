using MassTransit.Patterns.EntityFrameworkCore.Workflow;
using MassTransit.Patterns.Workflow;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace MassTransit;

/// <summary>Maps the workflow processor's saga (one row per failed message, with its raw body and audit trail) into the application's DbContext.</summary>
public static class WorkflowModelBuilderExtensions
{
    /// <summary>The default table of <see cref="WorkflowEventState"/>.</summary>
    public const string Table = "WorkflowEvents";

    /// <summary>
    /// Maps <see cref="WorkflowEventState"/> as a saga instance (key, integer version token) with column
    /// sizes and the indexes a repair console's reads use (<c>AddPatternsEntityFrameworkWorkflowStore</c>), each ending with
    /// the sort time and the id: state; state + exception type; exception + message type; message type; source queue;
    /// received time; last change; resolved time (the retention sweep). And the functions its free-text search uses. The
    /// raw body is a binary column, the headers and the audit trail are JSON text columns, written in
    /// the same row and statement as the state (an audit entry commits with the step it records).
    /// Register the repository with <c>x.AddWorkflowEventProcessor().PatternsEntityFrameworkRepository(r =&gt; r.ExistingDbContext&lt;AppDb&gt;())</c>.
    /// </summary>
    /// <param name="modelBuilder">The model builder of the application's DbContext.</param>
    /// <param name="schema">The table's schema; null for the default one.</param>
    /// <param name="tableName">The table's name.</param>
    /// <param name="configure">Further mapping.</param>
    public static ModelBuilder AddWorkflowEventEntities(this ModelBuilder modelBuilder, string? schema = null, string tableName = Table,
        Action<EntityTypeBuilder<WorkflowEventState>>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(modelBuilder);
        modelBuilder.AddSagaInstance<WorkflowEventState>(e =>
        {
            e.ToTable(tableName, schema);
            e.Property(x => x.CurrentState).HasMaxLength(64).IsRequired();
            e.Property(x => x.MessageType).HasMaxLength(512);
            e.Property(x => x.MessageTypes).HasMaxLength(4000).IsRequired();
            e.Property(x => x.SourceAddress).HasMaxLength(1024).IsRequired();
            e.Property(x => x.ContentType).HasMaxLength(256);
            e.Property(x => x.Body).IsRequired();
            e.Property(x => x.Headers).IsRequired();
            e.Property(x => x.ExceptionType).HasMaxLength(512).IsRequired();
            e.Property(x => x.ExceptionMessage).IsRequired();
            e.Property(x => x.ResubmittedBy).HasMaxLength(256);
            e.Property(x => x.Audit).IsRequired();
            e.Property(x => x.HoldKey).HasMaxLength(256);
            e.Property(x => x.HeldMessages).IsRequired();
            // The repair console's reads (IWorkflowMessageStore). Each index ends with the sort column and the id: a page is
            // picked from the index alone (ids in order, the offset skipped there), then only its rows are read; and a
            // count is an index-only scan. Named short (PostgreSQL truncates names beyond 63 characters).
            // A page in one state by time; the counts per state.
            e.HasIndex(x => new { x.CurrentState, x.ReceivedAt, x.CorrelationId }).HasDatabaseName($"IX_{tableName}_State_ReceivedAt");
            // Waiting messages of one failure (state + exception type) by time: the console's usual list, and its count.
            e.HasIndex(x => new { x.CurrentState, x.ExceptionType, x.ReceivedAt, x.CorrelationId }).HasDatabaseName($"IX_{tableName}_State_ExceptionType");
            // Groups by exception and message type (index-only), and a page of one exception type (and message type) by time.
            e.HasIndex(x => new { x.ExceptionType, x.MessageType, x.ReceivedAt, x.CorrelationId }).HasDatabaseName($"IX_{tableName}_ExceptionType_MessageType");
            // A page of one message type by time.
            e.HasIndex(x => new { x.MessageType, x.ReceivedAt, x.CorrelationId }).HasDatabaseName($"IX_{tableName}_MessageType");
            // Groups by source queue, and a page of one source queue by time.
            e.HasIndex(x => new { x.SourceAddress, x.ReceivedAt, x.CorrelationId }).HasDatabaseName($"IX_{tableName}_SourceAddress");
            // A page of every state by time (and the time range alone), and one by last change.
            e.HasIndex(x => new { x.ReceivedAt, x.CorrelationId }).HasDatabaseName($"IX_{tableName}_ReceivedAt");
            e.HasIndex(x => new { x.UpdatedAt, x.CorrelationId }).HasDatabaseName($"IX_{tableName}_UpdatedAt");
            // The retention sweep (AddWorkflowEventRetention): rows resolved before the cut-off, read from here alone. Without it
            // every sweep, most of them with nothing to remove, read every resolved row (490 ms a sweep at 1,000,000 rows).
            e.HasIndex(x => new { x.ResolvedAt, x.CorrelationId }).HasDatabaseName($"IX_{tableName}_ResolvedAt");
            configure?.Invoke(e);
        }, tableName: tableName);
        WorkflowStoreSql.Register(modelBuilder);
        return modelBuilder;
    }
}
