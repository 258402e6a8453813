namespace MassTransit.Patterns.Watch;

/// <summary>
/// The owner of keyed values of <typeparamref name="TValue"/>: every <see cref="Set"/> stores the next
/// version of a key and sends it straight to each watcher registered for the key. Registered with
/// <c>x.AddWatchSource&lt;TValue&gt;(...)</c>.
/// </summary>
/// <typeparam name="TValue">The values' type (serialized as JSON in the store).</typeparam>
public interface IWatchSource<TValue>
{
    /// <summary>The source's name in the store.</summary>
    string Name { get; }

    /// <summary>
    /// Stores <paramref name="value"/> as the next version of <paramref name="key"/>, then notifies every live
    /// watcher of the key (at most <see cref="WatchSourceOptions.FanOutConcurrency"/> sends at once) and returns
    /// when each notification was delivered or given up. A watcher unreachable after
    /// <see cref="WatchSourceOptions.DeliveryAttempts"/> is pruned. A notification missed for any reason is
    /// caught up by the watcher's next renewal.
    /// </summary>
    Task<WatchSetResult> Set(string key, TValue value, CancellationToken cancellationToken = default);

    /// <summary>The current value of <paramref name="key"/>, or null when it has none.</summary>
    Task<WatchEntry<TValue>?> Get(string key, CancellationToken cancellationToken = default);

    /// <summary>Removes the watchers whose lease has expired (the sweep runs this every <see cref="WatchSourceOptions.SweepInterval"/>); returns how many.</summary>
    Task<int> PruneExpired(CancellationToken cancellationToken = default);
}
