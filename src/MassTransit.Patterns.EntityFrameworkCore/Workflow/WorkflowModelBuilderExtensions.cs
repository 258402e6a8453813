using MassTransit.Patterns.Workflow;
using MassTransit.Patterns.EntityFrameworkCore.Workflow;
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
    /// sizes and the indexes a repair console's reads use (<c>AddPatternsEntityFrameworkWorkflowStore</c>): state + time,
    /// time, last change, exception + message type + time, message type + time, source queue + time; and the functions
    /// its free-text search uses. The
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
            // The repair console's reads (IWorkflowMessageStore): a page in one state by time, and the counts per state.
            e.HasIndex(x => new { x.CurrentState, x.ReceivedAt });
            // A page of every state by time, and the time range filter alone.
            e.HasIndex(x => x.ReceivedAt);
            // A page ordered by the last change.
            e.HasIndex(x => x.UpdatedAt);
            // The groups by exception and message type, and a page of one exception type (and message type) by time.
            e.HasIndex(x => new { x.ExceptionType, x.MessageType, x.ReceivedAt });
            // A page of one message type by time.
            e.HasIndex(x => new { x.MessageType, x.ReceivedAt });
            // The groups by source queue, and a page of one source queue by time.
            e.HasIndex(x => new { x.SourceAddress, x.ReceivedAt });
            configure?.Invoke(e);
        }, tableName: tableName);
        WorkflowStoreSql.Register(modelBuilder);
        return modelBuilder;
    }
}
