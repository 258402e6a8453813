namespace MassTransit.Patterns.Workflow;

/// <summary>A resubmitted copy (it carried lineage headers) was processed successfully by its consumer.</summary>
public sealed record WorkflowMessageProcessed
{
    /// <summary>The workflow's id (the original message id).</summary>
    public Guid CorrelationId { get; init; }

    /// <summary>The lineage attempt of the copy that was processed.</summary>
    public int Attempt { get; init; }

    /// <summary>The queue that processed it.</summary>
    public Uri? InputAddress { get; init; }

    /// <summary>When it was processed.</summary>
    public DateTimeOffset ProcessedAt { get; init; }
}
