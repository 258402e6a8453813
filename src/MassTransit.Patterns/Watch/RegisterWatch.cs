namespace MassTransit.Patterns.Watch;

/// <summary>
/// A watcher asks the watch source of <typeparamref name="TValue"/> to be told of changes to some keys.
/// Sent again to renew the lease (a renewal is a registration: it also brings back the current values).
/// The reply is <see cref="WatchRegistered{TValue}"/>.
/// </summary>
/// <typeparam name="TValue">The watched values' type.</typeparam>
public sealed record RegisterWatch<TValue>
{
    /// <summary>The watcher's id: notifications carry it, so that several watchers can share one instance endpoint.</summary>
    public Guid WatcherId { get; init; }

    /// <summary>Where the source sends every change: the watcher's instance endpoint.</summary>
    public Uri Address { get; init; } = null!;

    /// <summary>Keys watched exactly.</summary>
    public IReadOnlyList<string> Keys { get; init; } = [];

    /// <summary>Key prefixes watched: every key that starts with one of them.</summary>
    public IReadOnlyList<string> Prefixes { get; init; } = [];
}
