namespace MassTransit.Patterns.Workflow;

/// <summary>The answer to <see cref="ListWorkflowMessages"/>.</summary>
public sealed record WorkflowMessageList
{
    /// <summary>The messages found.</summary>
    public WorkflowMessageSummary[] Messages { get; init; } = [];
}
