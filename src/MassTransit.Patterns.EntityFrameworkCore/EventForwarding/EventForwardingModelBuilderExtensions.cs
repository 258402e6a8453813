using MassTransit.Patterns.EntityFrameworkCore.EventForwarding;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace MassTransit;

/// <summary>Maps the inbox, the outbox and the delivery lease into the application's DbContext (and so into its migrations).</summary>
public static class EventForwardingModelBuilderExtensions
{
    /// <summary>The default table of <see cref="InboxEntry"/>.</summary>
    public const string InboxTable = "ForwardingInbox";

    /// <summary>The default table of <see cref="OutboxEntry"/>.</summary>
    public const string OutboxTable = "ForwardingOutbox";

    /// <summary>The default table of <see cref="OutboxLease"/>.</summary>
    public const string LeaseTable = "ForwardingOutboxLease";

    /// <summary>
    /// Maps <see cref="InboxEntry"/>, <see cref="OutboxEntry"/> and <see cref="OutboxLease"/>. Call it
    /// from <c>OnModelCreating</c> of the DbContext the consumers write through.
    /// </summary>
    /// <param name="modelBuilder">The model builder of the application's DbContext.</param>
    /// <param name="schema">The schema of the three tables; null for the default one.</param>
    /// <param name="inbox">Further mapping of the inbox (table name, ...).</param>
    /// <param name="outbox">Further mapping of the outbox.</param>
    public static ModelBuilder AddEventForwardingEntities(this ModelBuilder modelBuilder, string? schema = null,
        Action<EntityTypeBuilder<InboxEntry>>? inbox = null, Action<EntityTypeBuilder<OutboxEntry>>? outbox = null)
    {
        var inboxEntity = modelBuilder.Entity<InboxEntry>();
        inboxEntity.ToTable(InboxTable, schema);
        inboxEntity.HasKey(x => new { x.MessageId, x.ConsumerId });
        inboxEntity.HasIndex(x => x.Consumed);
        inbox?.Invoke(inboxEntity);

        var outboxEntity = modelBuilder.Entity<OutboxEntry>();
        outboxEntity.ToTable(OutboxTable, schema);
        outboxEntity.HasKey(x => x.SequenceNumber);
        outboxEntity.Property(x => x.SequenceNumber).ValueGeneratedOnAdd();
        outboxEntity.HasIndex(x => new { x.OutboxId, x.Position });
        outboxEntity.Property(x => x.SourceAddress).HasMaxLength(1024);
        outboxEntity.Property(x => x.DestinationAddress).HasMaxLength(1024);
        outboxEntity.Property(x => x.ResponseAddress).HasMaxLength(1024);
        outboxEntity.Property(x => x.FaultAddress).HasMaxLength(1024);
        outboxEntity.Property(x => x.ContentType).HasMaxLength(256);
        outbox?.Invoke(outboxEntity);

        var lease = modelBuilder.Entity<OutboxLease>();
        lease.ToTable(LeaseTable, schema);
        lease.HasKey(x => x.Name);
        lease.Property(x => x.Name).HasMaxLength(64);
        return modelBuilder;
    }

    /// <summary>
    /// Throws <see cref="ConfigurationException"/> naming the missing call when <paramref name="db"/>'s
    /// model does not map the inbox, the outbox and the delivery lease. Run when the bus is configured
    /// and when the delivery service starts, so that a forgotten mapping fails the start instead of
    /// the first message.
    /// </summary>
    public static void EnsureEventForwardingEntities(DbContext db)
    {
        ArgumentNullException.ThrowIfNull(db);
        var missing = new[] { typeof(InboxEntry), typeof(OutboxEntry), typeof(OutboxLease) }
            .Where(type => db.Model.FindEntityType(type) is null)
            .Select(type => type.Name)
            .ToList();
        if (missing.Count > 0)
            throw new ConfigurationException($"{db.GetType().Name} does not map the event forwarding tables ({string.Join(", ", missing)} missing): " +
                $"call modelBuilder.AddEventForwardingEntities() in {db.GetType().Name}.OnModelCreating (and add the tables to its migrations).");
    }
}
