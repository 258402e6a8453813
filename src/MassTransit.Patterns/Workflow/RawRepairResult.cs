namespace MassTransit.Patterns.Workflow;

/// <summary>The outcome of a raw repairer.</summary>
public sealed class RawRepairResult
{
    RawRepairResult(RepairOutcome outcome, byte[]? body, string? contentType, string? note)
    {
        Outcome = outcome;
        Body = body;
        ContentType = contentType;
        Note = note;
    }

    /// <summary>Repaired, discard, or cannot repair.</summary>
    public RepairOutcome Outcome { get; }

    /// <summary>The repaired body, when repaired.</summary>
    public byte[]? Body { get; }

    /// <summary>A new content type, or null to keep the stored one.</summary>
    public string? ContentType { get; }

    /// <summary>What was changed or why (recorded in the audit).</summary>
    public string? Note { get; }

    /// <summary>The body is fixed: resubmit it.</summary>
    public static RawRepairResult Repaired(byte[] body, string? contentType = null, string? note = null) =>
        new(RepairOutcome.Repaired, body ?? throw new ArgumentNullException(nameof(body)), contentType, note);

    /// <summary>The message should not be processed: discard it.</summary>
    public static RawRepairResult Discard(string reason) => new(RepairOutcome.Discard, null, null, reason);

    /// <summary>This repairer cannot fix it.</summary>
    public static RawRepairResult CannotRepair(string? reason = null) => new(RepairOutcome.CannotRepair, null, null, reason);
}
