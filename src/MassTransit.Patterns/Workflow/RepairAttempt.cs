using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Workflow;

/// <summary>What one repairer did.</summary>
sealed record RepairAttempt(string Repairer, RepairOutcome Outcome, byte[]? Body, string? ContentType, string? Note)
{
    public static RepairAttempt Repaired(string repairer, byte[] body, string? contentType, string? note) => new(repairer, RepairOutcome.Repaired, body, contentType, note);

    public static RepairAttempt Discarded(string repairer, string? note) => new(repairer, RepairOutcome.Discard, null, null, note);

    public static RepairAttempt NotRepaired(string repairer, string? note) => new(repairer, RepairOutcome.CannotRepair, null, null, note);
}
