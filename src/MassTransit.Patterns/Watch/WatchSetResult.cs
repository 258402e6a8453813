namespace MassTransit.Patterns.Watch;

/// <summary>What one <see cref="IWatchSource{TValue}.Set"/> did.</summary>
/// <param name="Key">The key.</param>
/// <param name="Version">The version stored.</param>
/// <param name="Watchers">Live watchers of the key when it was stored.</param>
/// <param name="Notified">Notifications delivered.</param>
/// <param name="Failed">Notifications not delivered after every attempt.</param>
/// <param name="Pruned">Watchers pruned as unreachable.</param>
public sealed record WatchSetResult(string Key, long Version, int Watchers, int Notified, int Failed, int Pruned);
