namespace MassTransit.Patterns.Workflow;

/// <summary>
/// The leader of a held key was resolved and the messages held behind it came back through the endpoint:
/// the key is free. With <see cref="IfDrained"/> an instance frees it only if the last message it held behind the
/// leader is <see cref="LastReleasedId"/> (or it held none): a message it held later is still on its way to the
/// processor, which sends it back, and the key is freed when it has come back.
/// </summary>
public sealed record WorkflowKeyReleased
{
    /// <summary>The queue.</summary>
    public string Queue { get; init; } = "";

    /// <summary>The key.</summary>
    public string Key { get; init; } = "";

    /// <summary>The leader's workflow id.</summary>
    public Guid LeaderId { get; init; }

    /// <summary>Free the key only where nothing was held behind the leader after <see cref="LastReleasedId"/>.</summary>
    public bool IfDrained { get; init; }

    /// <summary>The last released message that came back through the endpoint; null when none was released.</summary>
    public Guid? LastReleasedId { get; init; }
}
