namespace MassTransit.Patterns.EventForwarding;

/// <summary>
/// Reads how much an outbox has not delivered yet: rows written by committed transactions and not yet confirmed by the
/// broker. Implemented by the outbox's store (MassTransit.Patterns.EntityFrameworkCore registers one with its outbox);
/// the operations view and the health checks read it.
/// </summary>
public interface IOutboxBacklog
{
    /// <summary>A name for this outbox (its DbContext type), shown beside its figures.</summary>
    string Name { get; }

    /// <summary>Reads the backlog now (one query).</summary>
    Task<OutboxBacklogReading> ReadAsync(CancellationToken cancellationToken = default);
}
