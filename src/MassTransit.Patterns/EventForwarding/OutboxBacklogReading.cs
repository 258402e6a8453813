namespace MassTransit.Patterns.EventForwarding;

/// <summary>An outbox's undelivered rows at a moment.</summary>
/// <param name="Pending">Rows not delivered yet.</param>
/// <param name="OldestCreatedAt">When the oldest of them was written; null when none.</param>
/// <param name="ReadAt">When this was read.</param>
public sealed record OutboxBacklogReading(long Pending, DateTimeOffset? OldestCreatedAt, DateTimeOffset ReadAt)
{
    /// <summary>How long the oldest undelivered row has waited; zero when none.</summary>
    public TimeSpan OldestAge => OldestCreatedAt is { } at && ReadAt > at ? ReadAt - at : TimeSpan.Zero;
}
