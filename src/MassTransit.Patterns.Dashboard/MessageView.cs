using MassTransit.Patterns.Workflow;

namespace MassTransit.Patterns.Dashboard;

/// <summary>One message as the console shows it: redacted headers, the body pretty-printed when JSON, lineage and audit.</summary>
sealed record MessageView
{
    public Guid Id { get; init; }

    public WorkflowMessageSummary Summary { get; init; } = new();

    /// <summary>The version to send as <c>expectedVersion</c> with an edit.</summary>
    public int Version { get; init; }

    /// <summary>The body as stored (envelope headers redacted).</summary>
    public string Body { get; init; } = "";

    /// <summary>The body indented when it is JSON, else as stored.</summary>
    public string PrettyBody { get; init; } = "";

    public bool BodyIsJson { get; init; }

    public bool BodyIsBase64 { get; init; }

    public string? ContentType { get; init; }

    /// <summary>Transport headers, the configured ones redacted.</summary>
    public IReadOnlyDictionary<string, string> Headers { get; init; } = new Dictionary<string, string>();

    public string? ExceptionDetail { get; init; }

    public bool Malformed { get; init; }

    public int RepairAttempts { get; init; }

    public int MaxRepairAttempts { get; init; }

    /// <summary>The original message id (the workflow's id).</summary>
    public Guid OriginalId { get; init; }

    /// <summary>The lineage attempt of the last resubmitted copy (0 before any).</summary>
    public int Attempt { get; init; }

    public string? ResubmittedBy { get; init; }

    public DateTimeOffset? ResolvedAt { get; init; }

    public string? HoldKey { get; init; }

    public int HeldCount { get; init; }

    public IReadOnlyList<WorkflowAuditEntry> Audit { get; init; } = [];
}
