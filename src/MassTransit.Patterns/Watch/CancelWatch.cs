namespace MassTransit.Patterns.Watch;

/// <summary>A watcher stopping cleanly ends its registration (a crashed one is pruned instead).</summary>
/// <typeparam name="TValue">The watched values' type.</typeparam>
public sealed record CancelWatch<TValue>
{
    /// <summary>The watcher.</summary>
    public Guid WatcherId { get; init; }
}
