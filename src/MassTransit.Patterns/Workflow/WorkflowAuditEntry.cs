namespace MassTransit.Patterns.Workflow;

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
