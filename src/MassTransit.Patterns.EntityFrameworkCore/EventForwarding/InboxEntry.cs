namespace MassTransit.Patterns.EntityFrameworkCore.EventForwarding;

/// <summary>
/// One message consumed by one consumer, recorded in the same transaction as the consumer's writes:
/// a redelivery of the message finds it and is acknowledged without running the consumer again.
/// Kept for <see cref="PatternsEntityFrameworkOutboxOptions.InboxRetention"/>.
/// </summary>
public sealed class InboxEntry
{
    /// <summary>The consumed message's id (its original id when it was moved and redelivered).</summary>
    public Guid MessageId { get; set; }

    /// <summary>The consumer, derived from its endpoint and type, so that two consumers of one message each apply it once.</summary>
    public Guid ConsumerId { get; set; }

    /// <summary>When the consumer's transaction committed (UTC).</summary>
    public DateTime Consumed { get; set; }
}
