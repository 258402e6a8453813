namespace MassTransit.Patterns.Workflow;

/// <summary>A person restores a discarded message: it waits for a person again (send it as a request to get a <see cref="WorkflowCommandResult"/>).</summary>
public sealed record RestoreWorkflowMessage
{
    /// <summary>The workflow's id.</summary>
    public Guid CorrelationId { get; init; }

    /// <summary>Who restores (recorded in the audit).</summary>
    public string Actor { get; init; } = "";

    /// <summary>Why (recorded in the audit).</summary>
    public string? Comment { get; init; }
}
