namespace MassTransit.Patterns.Workflow;

/// <summary>One line of a list of workflow messages.</summary>
public sealed record WorkflowMessageSummary
{
    /// <summary>The workflow's id (the original message id).</summary>
    public Guid CorrelationId { get; init; }

    /// <summary>The state: Received, Repairing, Resubmitted, AwaitingPerson, Completed, Discarded.</summary>
    public string State { get; init; } = "";

    /// <summary>The message type URN, or null for a malformed body.</summary>
    public string? MessageType { get; init; }

    /// <summary>The queue it came from.</summary>
    public Uri? SourceAddress { get; init; }

    /// <summary>The last failure's exception type.</summary>
    public string ExceptionType { get; init; } = "";

    /// <summary>The last failure's exception message.</summary>
    public string ExceptionMessage { get; init; } = "";

    /// <summary>Failures counted so far.</summary>
    public int Failures { get; init; }

    /// <summary>Automatic repairs resubmitted so far.</summary>
    public int RepairAttempts { get; init; }

    /// <summary>When the first failure was received.</summary>
    public DateTimeOffset ReceivedAt { get; init; }

    /// <summary>When the workflow last changed.</summary>
    public DateTimeOffset UpdatedAt { get; init; }
}
