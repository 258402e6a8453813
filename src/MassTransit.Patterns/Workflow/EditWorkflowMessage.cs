namespace MassTransit.Patterns.Workflow;

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

    /// <summary>
    /// The <see cref="WorkflowMessageDetails.Version"/> the edit was made on, or null not to check. When the stored
    /// message changed since, the edit is refused with <see cref="WorkflowCommandRefusal.Stale"/> and nothing changes.
    /// </summary>
    public int? ExpectedVersion { get; init; }
}
