using MassTransit.Patterns.Workflow;

namespace MassTransit;

/// <summary>
/// Reads the lineage a resubmitted message carries (<see cref="WorkflowHeaders.OriginalMessageId"/>,
/// <see cref="WorkflowHeaders.Attempt"/>) in a consumer.
/// </summary>
public static class WorkflowEventContextExtensions
{
    /// <summary>
    /// The id to count a message by: the original message id for a resubmitted copy, otherwise the
    /// message id. A repaired or edited copy keeps the original message id anyway; this also covers a
    /// body a person replaced with one carrying another id.
    /// </summary>
    public static Guid? GetWorkflowOriginalMessageId(this ConsumeContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return WorkflowHeaders.TryGetLineage(context, out var id, out _) ? id : context.MessageId;
    }

    /// <summary>The lineage attempt of this copy: 0 for a message never resubmitted.</summary>
    public static int GetWorkflowAttempt(this ConsumeContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return WorkflowHeaders.TryGetLineage(context, out _, out var attempt) ? attempt : 0;
    }
}
