namespace MassTransit.Patterns.Workflow;

/// <summary>A key is held (a message of it was handed to the processor): every instance holds its later messages.</summary>
public sealed record WorkflowKeyHeld
{
    /// <summary>The queue.</summary>
    public string Queue { get; init; } = "";

    /// <summary>The key.</summary>
    public string Key { get; init; } = "";

    /// <summary>The leader's workflow id.</summary>
    public Guid LeaderId { get; init; }
}
