namespace MassTransit.Patterns.Workflow;

/// <summary>The keys the processor holds: unresolved workflows with a hold key.</summary>
public sealed record HeldKeyList
{
    /// <summary>Each held key with its queue and leader.</summary>
    public WorkflowKeyHeld[] Keys { get; init; } = [];
}
