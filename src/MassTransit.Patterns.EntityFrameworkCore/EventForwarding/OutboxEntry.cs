namespace MassTransit.Patterns.EntityFrameworkCore.EventForwarding;

/// <summary>
/// A message sent or published by a consumer or an API handler, stored with its writes and delivered
/// after commit by the outbox delivery service, which then deletes it.
/// </summary>
public sealed class OutboxEntry
{
    /// <summary>Store-generated, increasing: the order in which groups are delivered.</summary>
    public long SequenceNumber { get; set; }

    /// <summary>The group: one consumed message, or one API handler's scope. A group is delivered one message at a time, in <see cref="Position"/> order.</summary>
    public Guid OutboxId { get; set; }

    /// <summary>The message's place in its group, in the order the handler sent it.</summary>
    public int Position { get; set; }

    /// <summary>The consumed message that produced it, if any.</summary>
    public Guid? InboxMessageId { get; set; }

    /// <summary>The consumer that produced it, if any.</summary>
    public Guid? InboxConsumerId { get; set; }

    /// <summary>The message id it is delivered with (every resend carries the same).</summary>
    public Guid MessageId { get; set; }

    /// <summary>The conversation id.</summary>
    public Guid? ConversationId { get; set; }

    /// <summary>The correlation id.</summary>
    public Guid? CorrelationId { get; set; }

    /// <summary>The initiator id.</summary>
    public Guid? InitiatorId { get; set; }

    /// <summary>The request id.</summary>
    public Guid? RequestId { get; set; }

    /// <summary>The source address.</summary>
    public Uri? SourceAddress { get; set; }

    /// <summary>Where it is delivered: the destination of a send, the message type's exchange of a publish.</summary>
    public Uri? DestinationAddress { get; set; }

    /// <summary>The response address.</summary>
    public Uri? ResponseAddress { get; set; }

    /// <summary>The fault address.</summary>
    public Uri? FaultAddress { get; set; }

    /// <summary>When the handler sent it (UTC); delivery lag is measured from here.</summary>
    public DateTime SentTime { get; set; }

    /// <summary>When a delayed send becomes visible (UTC), if it was delayed.</summary>
    public DateTime? EnqueueTime { get; set; }

    /// <summary>When it expires (UTC), if it has a time to live.</summary>
    public DateTime? ExpirationTime { get; set; }

    /// <summary>The message headers, serialized.</summary>
    public string? Headers { get; set; }

    /// <summary>Transport properties (routing key, ...), serialized.</summary>
    public string? Properties { get; set; }

    /// <summary>The body's content type.</summary>
    public string ContentType { get; set; } = "";

    /// <summary>The supported message types, separated by ';'.</summary>
    public string MessageType { get; set; } = "";

    /// <summary>The serialized body.</summary>
    public string Body { get; set; } = "";
}
