namespace MassTransit.Patterns.Watch;

/// <summary>A watch that the source refused (a key outside its allowed prefixes, a key too long, no key at all).</summary>
/// <typeparam name="TValue">The watched values' type.</typeparam>
public sealed record WatchRejected<TValue>
{
    /// <summary>The watcher refused.</summary>
    public Guid WatcherId { get; init; }

    /// <summary>Why.</summary>
    public string Reason { get; init; } = "";
}
