namespace MassTransit.Patterns.Watch;

/// <summary>The watcher's renewal state (written by its registration loop only, read by anyone).</summary>
sealed partial class Watcher<TValue>
{
    WatcherRenewalState? _renewal;

    public WatcherRenewalState Renewal =>
        Volatile.Read(ref _renewal) ?? new WatcherRenewalState(WatcherId, typeof(TValue).Name, _options.SourceAddress, null, null, 0, null, null, false);

    void RecordRenewed(TimeSpan lease) =>
        Volatile.Write(ref _renewal, Renewal with { LastRenewedAt = _time.GetUtcNow(), Lease = lease, ConsecutiveFailures = 0 });

    void RecordFailed(Exception exception, bool rejected)
    {
        var renewal = Renewal;
        Volatile.Write(ref _renewal, renewal with
        {
            ConsecutiveFailures = renewal.ConsecutiveFailures + 1,
            LastFailedAt = _time.GetUtcNow(),
            LastFailure = $"{exception.GetType().Name}: {exception.Message}",
            Rejected = rejected
        });
    }
}
