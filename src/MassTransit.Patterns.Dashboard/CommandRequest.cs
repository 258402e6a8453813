namespace MassTransit.Patterns.Dashboard;

/// <summary>Resubmit, discard or restore one message; for a discard <see cref="Reason"/> is required.</summary>
sealed record CommandRequest
{
    /// <summary>Why (recorded in the audit); required to discard.</summary>
    public string? Reason { get; init; }
}
