using MassTransit.Patterns.Workflow;

namespace MassTransit.Patterns.Dashboard;

/// <summary>A bulk retry or discard of a selection (<see cref="Ids"/>) or of every message a filter matches: <c>POST {prefix}/api/bulk</c>.</summary>
sealed record BulkRequest
{
    /// <summary><c>retry</c> (resubmit each) or <c>discard</c>.</summary>
    public string? Action { get; init; }

    /// <summary>The selected messages; or null to use <see cref="Filter"/>.</summary>
    public IReadOnlyList<Guid>? Ids { get; init; }

    /// <summary>A group (or any filter): its matching messages, oldest first, at most MaxBulkSize.</summary>
    public WorkflowMessageFilter? Filter { get; init; }

    /// <summary>Why (recorded in each audit); required to discard.</summary>
    public string? Reason { get; init; }
}
