namespace MassTransit.Patterns.Workflow;

/// <summary>Inspects one workflow message (request; answered with <see cref="WorkflowMessageDetails"/>).</summary>
public sealed record InspectWorkflowMessage
{
    /// <summary>The workflow's id.</summary>
    public Guid CorrelationId { get; init; }
}
