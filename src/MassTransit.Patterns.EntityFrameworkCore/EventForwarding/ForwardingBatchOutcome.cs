using System.Runtime.ExceptionServices;

namespace MassTransit.Patterns.EntityFrameworkCore.EventForwarding;

/// <summary>What the batch decided for one member, handed back to the member's own flow.</summary>
sealed class ForwardingBatchOutcome
{
    ForwardingBatchOutcome(ForwardingBatchOutcomeKind kind, ExceptionDispatchInfo? error)
    {
        Kind = kind;
        Error = error;
    }

    public static ForwardingBatchOutcome Committed { get; } = new(ForwardingBatchOutcomeKind.Committed, null);

    public static ForwardingBatchOutcome Duplicate { get; } = new(ForwardingBatchOutcomeKind.Duplicate, null);

    public static ForwardingBatchOutcome RunAlone { get; } = new(ForwardingBatchOutcomeKind.RunAlone, null);

    public ForwardingBatchOutcomeKind Kind { get; }

    /// <summary>The member's own exception, for <see cref="ForwardingBatchOutcomeKind.Failed"/>.</summary>
    public ExceptionDispatchInfo? Error { get; }

    public static ForwardingBatchOutcome Failed(Exception exception) => new(ForwardingBatchOutcomeKind.Failed, ExceptionDispatchInfo.Capture(exception));
}
