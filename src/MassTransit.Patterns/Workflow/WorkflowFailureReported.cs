namespace MassTransit.Patterns.Workflow;

/// <summary>
/// A message whose processing failed with a delegated (non-transient) error, or that could not be
/// deserialized, handed to the workflow processor with everything needed to repair and resubmit it.
/// </summary>
public sealed record WorkflowFailureReported
{
    /// <summary>The workflow's id: the original message id (the first failed copy's), so every attempt of one message lands on one saga.</summary>
    public Guid CorrelationId { get; init; }

    /// <summary>The id of the copy that failed (the original id again for a resubmitted copy).</summary>
    public Guid? MessageId { get; init; }

    /// <summary>The lineage attempt of the copy that failed: 0 for the original, n for the n-th resubmission.</summary>
    public int Attempt { get; init; }

    /// <summary>The message type URNs the failed copy supported (empty for a malformed body).</summary>
    public string[] MessageTypes { get; init; } = [];

    /// <summary>The queue the message was consumed from, where a repaired copy is resubmitted.</summary>
    public Uri? SourceAddress { get; init; }

    /// <summary>The transport content type of the raw body.</summary>
    public string? ContentType { get; init; }

    /// <summary>The raw body bytes, exactly as received.</summary>
    public byte[] Body { get; init; } = [];

    /// <summary>The transport headers, as text.</summary>
    public Dictionary<string, string> Headers { get; init; } = [];

    /// <summary>The failing exception's type.</summary>
    public string ExceptionType { get; init; } = "";

    /// <summary>The failing exception's message.</summary>
    public string ExceptionMessage { get; init; } = "";

    /// <summary>The failing exception's text (type, message, stack), trimmed.</summary>
    public string? ExceptionDetail { get; init; }

    /// <summary>True when the body could not be deserialized at all.</summary>
    public bool Malformed { get; init; }

    /// <summary>In-place retries that ran before the hand-off.</summary>
    public int RetryCount { get; init; }

    /// <summary>The endpoint's bound on automatic repair attempts, or null for the processor's default.</summary>
    public int? MaxRepairAttempts { get; init; }

    /// <summary>When it failed.</summary>
    public DateTimeOffset FailedAt { get; init; }

    /// <summary>The hold key (hold by key on), whose later messages wait behind this one.</summary>
    public string? HoldKey { get; init; }
}
