namespace MassTransit.Patterns.EventForwarding;

/// <summary>
/// An outbox's delivery service in this process: what it delivered and how long the recent deliveries took from the outbox
/// row's creation to the broker's confirm. Registered by the outbox's store with its delivery service (one per outbox
/// DbContext with MassTransit.Patterns.EntityFrameworkCore; resolve <c>IEnumerable&lt;IOutboxDelivery&gt;</c>); the operations view reads it.
/// </summary>
public interface IOutboxDelivery
{
    /// <summary>A name for this outbox (its DbContext type), the same as its <see cref="IOutboxBacklog.Name"/>.</summary>
    string Name { get; }

    /// <summary>Reads the delivery figures now (in memory, no query).</summary>
    OutboxDeliveryReading Read();
}
