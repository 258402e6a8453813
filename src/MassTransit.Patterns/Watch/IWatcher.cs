namespace MassTransit.Patterns.Watch;

/// <summary>
/// A watch of some keys of a watch source: it registers with the address of its instance endpoint, holds
/// the current value of each watched key, applies a change only when it is newer than the version it holds
/// (an older notification arriving late never overwrites a newer value), renews its lease, and registers
/// again (catching up) after a restart or a missed notification. Dispose it to stop watching.
/// </summary>
/// <typeparam name="TValue">The values' type.</typeparam>
public interface IWatcher<TValue> : IAsyncDisposable
{
    /// <summary>The watcher's id.</summary>
    Guid WatcherId { get; }

    /// <summary>Where its notifications arrive (the bus's instance endpoint), once started.</summary>
    Uri? Address { get; }

    /// <summary>Completes at the first successful registration (the current values are then held); faults when the source refuses the watch.</summary>
    Task Registered { get; }

    /// <summary>The current value of every watched key that has one.</summary>
    IReadOnlyDictionary<string, WatchEntry<TValue>> Values { get; }

    /// <summary>The current value of <paramref name="key"/>.</summary>
    bool TryGetValue(string key, out WatchEntry<TValue> entry);

    /// <summary>
    /// Raised after a newer value of a key was applied (from a notification or a registration reply), outside the
    /// watcher's lock. Per key, calls never overlap and never report a lower version after a higher one, however
    /// concurrently notifications arrive: a value applied while a call for its key runs is raised after that call,
    /// and when several were applied meanwhile only the newest is (the skipped ones are already superseded).
    /// Calls for different keys may run at once. A call runs on the thread that applied the value (a notification's
    /// consumer, or the renewal loop) or on the one whose call for that key was running. A slow handler delays its
    /// key's later calls, never the values (<see cref="TryGetValue"/> already holds the newer one) nor other
    /// notifications; a handler must not wait for a later change of its own key, which is raised only after it returns.
    /// </summary>
    event EventHandler<WatchEntry<TValue>>? Changed;

    /// <summary>Values applied so far.</summary>
    long Applied { get; }

    /// <summary>Values ignored because the watcher already held that version or a newer one.</summary>
    long StaleIgnored { get; }

    /// <summary>How its registrations and renewals with the source went: the last success, and the failures since.</summary>
    WatcherRenewalState Renewal { get; }
}
