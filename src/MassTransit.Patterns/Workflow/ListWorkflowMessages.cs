namespace MassTransit.Patterns.Workflow;

/// <summary>Lists workflow messages, newest first (request; answered with <see cref="WorkflowMessageList"/>).</summary>
public sealed record ListWorkflowMessages
{
    /// <summary>Only messages in this state (e.g. <c>AwaitingPerson</c>), or null for all.</summary>
    public string? State { get; init; }

    /// <summary>At most this many.</summary>
    public int Limit { get; init; } = 100;
}
