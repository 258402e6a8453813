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

/// <summary>A person replaces the body of a message that waits for a person (send it as a request to get a <see cref="WorkflowCommandResult"/>).</summary>
public sealed record EditWorkflowMessage
{
    /// <summary>The workflow's id.</summary>
    public Guid CorrelationId { get; init; }

    /// <summary>The new body, as text (for any serializer: a whole MassTransit envelope, raw JSON, XML...).</summary>
    public string Body { get; init; } = "";

    /// <summary>A new content type, or null to keep the one received.</summary>
    public string? ContentType { get; init; }

    /// <summary>Who edits (recorded in the audit).</summary>
    public string Actor { get; init; } = "";

    /// <summary>Why (recorded in the audit).</summary>
    public string? Comment { get; init; }
}

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

/// <summary>The answer to a person's command.</summary>
public sealed record WorkflowCommandResult
{
    /// <summary>The workflow's id.</summary>
    public Guid CorrelationId { get; init; }

    /// <summary>True when the command was applied.</summary>
    public bool Accepted { get; init; }

    /// <summary>The workflow's state after the command.</summary>
    public string State { get; init; } = "";

    /// <summary>Why a command was refused (e.g. the message is not waiting for a person).</summary>
    public string? Reason { get; init; }
}

/// <summary>Lists workflow messages, newest first (request; answered with <see cref="WorkflowMessageList"/>).</summary>
public sealed record ListWorkflowMessages
{
    /// <summary>Only messages in this state (e.g. <c>AwaitingPerson</c>), or null for all.</summary>
    public string? State { get; init; }

    /// <summary>At most this many.</summary>
    public int Limit { get; init; } = 100;
}

/// <summary>The answer to <see cref="ListWorkflowMessages"/>.</summary>
public sealed record WorkflowMessageList
{
    /// <summary>The messages found.</summary>
    public WorkflowMessageSummary[] Messages { get; init; } = [];
}

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

/// <summary>Inspects one workflow message (request; answered with <see cref="WorkflowMessageDetails"/>).</summary>
public sealed record InspectWorkflowMessage
{
    /// <summary>The workflow's id.</summary>
    public Guid CorrelationId { get; init; }
}

/// <summary>Everything known of one workflow message: body, headers, failure and audit.</summary>
public sealed record WorkflowMessageDetails
{
    /// <summary>False when no workflow has that id.</summary>
    public bool Found { get; init; }

    /// <summary>The summary line.</summary>
    public WorkflowMessageSummary? Summary { get; init; }

    /// <summary>The current body as text (UTF-8; base64 when it is not valid UTF-8).</summary>
    public string? Body { get; init; }

    /// <summary>True when <see cref="Body"/> is base64 because the bytes are not UTF-8 text.</summary>
    public bool BodyIsBase64 { get; init; }

    /// <summary>The content type.</summary>
    public string? ContentType { get; init; }

    /// <summary>The transport headers received with the first failure.</summary>
    public Dictionary<string, string> Headers { get; init; } = [];

    /// <summary>The last failure's exception text.</summary>
    public string? ExceptionDetail { get; init; }

    /// <summary>True when the body could not be deserialized.</summary>
    public bool Malformed { get; init; }

    /// <summary>Who did what, when, oldest first.</summary>
    public WorkflowAuditEntry[] Audit { get; init; } = [];
}

/// <summary>One entry of a workflow message's audit trail.</summary>
public sealed record WorkflowAuditEntry
{
    /// <summary>When.</summary>
    public DateTimeOffset At { get; init; }

    /// <summary>Who: a person's name, or <c>system</c> / the repairer's name for automatic steps.</summary>
    public string Actor { get; init; } = "";

    /// <summary>What: received, failed, repaired, resubmitted, edited, discarded, completed, ignored...</summary>
    public string Action { get; init; } = "";

    /// <summary>Details: the exception, what changed, the comment.</summary>
    public string? Detail { get; init; }
}
