namespace MassTransit.Patterns.Watch;

/// <summary>One key of a watch source as stored now: its version, when it changed, and how many live watchers it has.</summary>
/// <param name="Key">The key.</param>
/// <param name="Version">Its version (one more with every change).</param>
/// <param name="ChangedAt">When that version was stored (UTC).</param>
/// <param name="Watchers">Live watchers of the key: registered for it exactly or by a prefix of it, with a lease not ended.</param>
public sealed record WatchKeyInfo(string Key, long Version, DateTime ChangedAt, int Watchers);
