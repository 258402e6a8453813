namespace MassTransit.Patterns.Workflow;

/// <summary>The outcome of a typed repairer.</summary>
public sealed class RepairResult<T>
    where T : class
{
    RepairResult(RepairOutcome outcome, T? message, string? note)
    {
        Outcome = outcome;
        Message = message;
        Note = note;
    }

    /// <summary>Repaired, discard, or cannot repair.</summary>
    public RepairOutcome Outcome { get; }

    /// <summary>The repaired message, when repaired.</summary>
    public T? Message { get; }

    /// <summary>What was changed or why (recorded in the audit).</summary>
    public string? Note { get; }

    /// <summary>The message is fixed: resubmit <paramref name="message"/> to its source queue.</summary>
    public static RepairResult<T> Repaired(T message, string? note = null) => new(RepairOutcome.Repaired, message ?? throw new ArgumentNullException(nameof(message)), note);

    /// <summary>The message should not be processed: discard it (recorded, not resubmitted).</summary>
    public static RepairResult<T> Discard(string reason) => new(RepairOutcome.Discard, null, reason);

    /// <summary>This repairer cannot fix it: try the next one (then a person).</summary>
    public static RepairResult<T> CannotRepair(string? reason = null) => new(RepairOutcome.CannotRepair, null, reason);
}
