namespace MassTransit.Patterns.Dashboard;

/// <summary>One message a bulk job's action was refused for, and why.</summary>
sealed record BulkRefusal(Guid Id, string Refusal, string? Reason);
