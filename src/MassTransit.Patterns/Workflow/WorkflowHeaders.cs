namespace MassTransit.Patterns.Workflow;

/// <summary>
/// The lineage headers a resubmitted message carries: the id of the message it repairs and the
/// attempt. They are set on the transport and, for a MassTransit envelope, inside the envelope too.
/// </summary>
public static class WorkflowHeaders
{
    /// <summary>The original message id (the workflow's id).</summary>
    public const string OriginalMessageId = "MT-Patterns-Workflow-OriginalMessageId";

    /// <summary>The resubmission attempt, 1 for the first resubmitted copy.</summary>
    public const string Attempt = "MT-Patterns-Workflow-Attempt";

    /// <summary>Who resubmitted: <c>repairer:NAME</c> or <c>person:NAME</c>.</summary>
    public const string ResubmittedBy = "MT-Patterns-Workflow-ResubmittedBy";

    /// <summary>A message held behind a repaired one (hold by key) and released by it: the leader's workflow id.</summary>
    public const string ReleasedBy = "MT-Patterns-Workflow-ReleasedBy";

    /// <summary>On the last message of a release: when it has come back through the endpoint, the release is drained.</summary>
    public const string ReleaseLast = "MT-Patterns-Workflow-ReleaseLast";

    /// <summary>
    /// The W3C <c>traceparent</c> of the failed attempt's consume (MassTransit's receive activity of that delivery): on a
    /// failure report (in its headers, kept with the message) and on every resubmitted copy, so the copy's consume links it.
    /// </summary>
    public const string FailedTraceParent = "MT-Patterns-Workflow-FailedTraceParent";

    /// <summary>
    /// On a resubmitted copy: the W3C <c>traceparent</c> of the activity that sent it, <c>workflow.repair</c> (a repairer)
    /// or <c>workflow.resubmit</c> (a person), so the copy's consume links it.
    /// </summary>
    public const string RepairTraceParent = "MT-Patterns-Workflow-RepairTraceParent";

    internal static bool TryGetLineage(ConsumeContext context, out Guid originalId, out int attempt) =>
        TryRead(context.Headers, out originalId, out attempt) || TryRead(context.ReceiveContext.TransportHeaders, out originalId, out attempt);

    internal static bool TryRead(Headers headers, out Guid originalId, out int attempt)
    {
        originalId = Guid.Empty;
        attempt = 0;
        if (!headers.TryGetHeader(OriginalMessageId, out var idValue) || !Guid.TryParse(idValue?.ToString(), out originalId))
            return false;
        if (headers.TryGetHeader(Attempt, out var attemptValue))
            _ = int.TryParse(attemptValue?.ToString(), System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out attempt);
        return true;
    }
}
