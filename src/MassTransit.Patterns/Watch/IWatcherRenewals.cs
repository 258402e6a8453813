namespace MassTransit.Patterns.Watch;

/// <summary>The renewal state of the running watchers of one value type (one per <see cref="WatcherHub{TValue}"/>), for the watch health check.</summary>
interface IWatcherRenewals
{
    /// <summary>A snapshot of each running watcher's renewal state.</summary>
    IReadOnlyList<WatcherRenewalState> Renewals { get; }
}
