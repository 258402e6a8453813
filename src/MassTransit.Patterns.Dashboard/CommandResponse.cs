namespace MassTransit.Patterns.Dashboard;

/// <summary>The answer to a change: accepted, or refused with the kind (NotFound, WrongState, Stale, Invalid) and the reason.</summary>
sealed record CommandResponse(Guid Id, bool Accepted, string State, string Refusal, string? Reason);
