namespace MassTransit.Patterns.Watch;

/// <summary>A live watcher of a key: its id and address.</summary>
public sealed record WatcherAddress(Guid WatcherId, Uri Address);
