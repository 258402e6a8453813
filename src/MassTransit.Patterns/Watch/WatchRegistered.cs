namespace MassTransit.Patterns.Watch;

/// <summary>The reply to <see cref="RegisterWatch{TValue}"/>: the current value of every watched key that has one, and the lease granted.</summary>
/// <typeparam name="TValue">The watched values' type.</typeparam>
public sealed record WatchRegistered<TValue>
{
    /// <summary>The watcher registered.</summary>
    public Guid WatcherId { get; init; }

    /// <summary>The current value and version of each watched key that has a value.</summary>
    public IReadOnlyList<WatchEntry<TValue>> Values { get; init; } = [];

    /// <summary>How long the registration lives unless renewed.</summary>
    public TimeSpan Lease { get; init; }
}
