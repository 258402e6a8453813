namespace MassTransit.Patterns.Watch;

/// <summary>A change of one watched key, sent by the source straight to one watcher's address.</summary>
/// <typeparam name="TValue">The value's type.</typeparam>
public sealed record WatchChanged<TValue>
{
    /// <summary>The watcher this copy is for.</summary>
    public Guid WatcherId { get; init; }

    /// <summary>The key, its new version and value.</summary>
    public WatchEntry<TValue> Entry { get; init; } = null!;
}
