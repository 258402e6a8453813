namespace MassTransit.Patterns.Watch;

/// <summary>A stored value: the key, its version, the serialized value and when it was stored (UTC).</summary>
public sealed record StoredWatchValue(string Key, long Version, string Value, DateTime ChangedAt);
