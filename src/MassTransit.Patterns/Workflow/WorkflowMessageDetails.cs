namespace MassTransit.Patterns.Workflow;

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

    /// <summary>The stored version (the saga's); give it as <see cref="EditWorkflowMessage.ExpectedVersion"/> to refuse an edit made on an older one.</summary>
    public int Version { get; init; }

    /// <summary>The bound on automatic repairs.</summary>
    public int MaxRepairAttempts { get; init; }

    /// <summary>The lineage attempt of the last resubmitted copy (0 before any).</summary>
    public int Attempt { get; init; }

    /// <summary>Who resubmitted the last copy: <c>repairer:NAME</c> or <c>person:NAME</c>.</summary>
    public string? ResubmittedBy { get; init; }

    /// <summary>When it was completed or discarded.</summary>
    public DateTimeOffset? ResolvedAt { get; init; }

    /// <summary>The hold key, when later messages of the same key wait behind this one.</summary>
    public string? HoldKey { get; init; }

    /// <summary>Messages held behind this one.</summary>
    public int HeldCount { get; init; }
}
