namespace MassTransit.Patterns.Watch;

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
