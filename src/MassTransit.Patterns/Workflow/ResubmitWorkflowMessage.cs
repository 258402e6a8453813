namespace MassTransit.Patterns.Workflow;

/// <summary>A person resubmits a waiting message (edited or not) to its source queue.</summary>
public sealed record ResubmitWorkflowMessage
{
    /// <summary>The workflow's id.</summary>
    public Guid CorrelationId { get; init; }

    /// <summary>Who resubmits (recorded in the audit).</summary>
    public string Actor { get; init; } = "";

    /// <summary>Why (recorded in the audit).</summary>
    public string? Comment { get; init; }
}
