namespace MassTransit.Patterns.Workflow;

/// <summary>
/// Sent by the endpoint to the processor when the last message of a release (header
/// <see cref="WorkflowHeaders.ReleaseLast"/>) has come back through it: the processor then sends back, in order,
/// the messages held behind the leader while that release was on its way.
/// </summary>
public sealed record WorkflowReleaseDrained
{
    /// <summary>The leader's workflow id.</summary>
    public Guid CorrelationId { get; init; }

    /// <summary>The last released message's id.</summary>
    public Guid MessageId { get; init; }
}
