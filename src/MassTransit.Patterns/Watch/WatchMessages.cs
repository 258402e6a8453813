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

/// <summary>A watch that the source refused (a key outside its allowed prefixes, a key too long, no key at all).</summary>
/// <typeparam name="TValue">The watched values' type.</typeparam>
public sealed record WatchRejected<TValue>
{
    /// <summary>The watcher refused.</summary>
    public Guid WatcherId { get; init; }

    /// <summary>Why.</summary>
    public string Reason { get; init; } = "";
}

/// <summary>One key's value at one version.</summary>
/// <typeparam name="TValue">The value's type.</typeparam>
public sealed record WatchEntry<TValue>
{
    /// <summary>The key.</summary>
    public string Key { get; init; } = "";

    /// <summary>The key's version: it grows by one with every change of the key, and survives a restart of the source.</summary>
    public long Version { get; init; }

    /// <summary>The value at <see cref="Version"/>.</summary>
    public TValue Value { get; init; } = default!;

    /// <summary>When the source stored this version (UTC).</summary>
    public DateTimeOffset ChangedAt { get; init; }
}

/// <summary>A change of one watched key, sent by the source straight to one watcher's address.</summary>
/// <typeparam name="TValue">The value's type.</typeparam>
public sealed record WatchChanged<TValue>
{
    /// <summary>The watcher this copy is for.</summary>
    public Guid WatcherId { get; init; }

    /// <summary>The key, its new version and value.</summary>
    public WatchEntry<TValue> Entry { get; init; } = null!;
}

/// <summary>A watcher stopping cleanly ends its registration (a crashed one is pruned instead).</summary>
/// <typeparam name="TValue">The watched values' type.</typeparam>
public sealed record CancelWatch<TValue>
{
    /// <summary>The watcher.</summary>
    public Guid WatcherId { get; init; }
}
