namespace MassTransit.Patterns.Watch;

/// <summary>The hub's running watchers' renewal state.</summary>
sealed partial class WatcherHub<TValue> : IWatcherRenewals
{
    public IReadOnlyList<WatcherRenewalState> Renewals => [.. _watchers.Values.Select(w => w.Renewal)];
}
