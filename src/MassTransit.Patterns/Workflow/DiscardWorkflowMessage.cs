namespace MassTransit.Patterns.Workflow;

/// <summary>A person discards a waiting message: it will not be processed.</summary>
public sealed record DiscardWorkflowMessage
{
    /// <summary>The workflow's id.</summary>
    public Guid CorrelationId { get; init; }

    /// <summary>Who discards (recorded in the audit).</summary>
    public string Actor { get; init; } = "";

    /// <summary>Why (recorded in the audit).</summary>
    public string? Comment { get; init; }
}
