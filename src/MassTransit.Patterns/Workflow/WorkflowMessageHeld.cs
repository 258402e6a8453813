namespace MassTransit.Patterns.Workflow;

/// <summary>
/// A later message of a key whose earlier message is being repaired: held by the processor behind
/// that message (its leader) and released, in order, once the leader is completed or discarded.
/// </summary>
public sealed record WorkflowMessageHeld
{
    /// <summary>The leader's workflow id (the failed message's original id).</summary>
    public Guid CorrelationId { get; init; }

    /// <summary>The held message's id.</summary>
    public Guid MessageId { get; init; }

    /// <summary>The key.</summary>
    public string Key { get; init; } = "";

    /// <summary>The order the endpoint received the key's messages in.</summary>
    public long Sequence { get; init; }

    /// <summary>The queue it came from, where it is released to.</summary>
    public Uri? SourceAddress { get; init; }

    /// <summary>The raw body's content type.</summary>
    public string? ContentType { get; init; }

    /// <summary>The raw body.</summary>
    public byte[] Body { get; init; } = [];

    /// <summary>The transport headers, as text.</summary>
    public Dictionary<string, string> Headers { get; init; } = [];
}
