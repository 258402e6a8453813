namespace MassTransit.Patterns.Watch;

/// <summary>
/// Where a watch source keeps its values (with their versions) and its registry of watchers. The
/// in-memory store (<see cref="InMemoryWatchStore"/>) is the default; MassTransit.Patterns.EntityFrameworkCore
/// has one on EF Core (<c>AddEntityFrameworkWatchStore&lt;TDbContext&gt;()</c>) whose versions survive a
/// restart and which several source instances can share.
/// </summary>
public interface IWatchStore
{
    /// <summary>
    /// Stores <paramref name="value"/> as the next version of <paramref name="key"/> (one more than the stored
    /// one, 1 for a new key), atomically: two concurrent writes get two different versions.
    /// </summary>
    Task<StoredWatchValue> SetAsync(string source, string key, string value, DateTime now, CancellationToken cancellationToken = default);

    /// <summary>The stored values of <paramref name="keys"/> and of every key starting with one of <paramref name="prefixes"/>.</summary>
    Task<IReadOnlyList<StoredWatchValue>> GetAsync(string source, IReadOnlyCollection<string> keys, IReadOnlyCollection<string> prefixes,
        CancellationToken cancellationToken = default);

    /// <summary>Adds or renews a watcher: its address, its keys and prefixes (replacing earlier ones) and when its lease ends.</summary>
    Task RegisterAsync(WatcherRegistration registration, CancellationToken cancellationToken = default);

    /// <summary>Removes a watcher; false when it was not registered.</summary>
    Task<bool> RemoveAsync(string source, Guid watcherId, CancellationToken cancellationToken = default);

    /// <summary>The watchers of <paramref name="key"/> (exactly or by a prefix) whose lease has not ended at <paramref name="now"/>.</summary>
    Task<IReadOnlyList<WatcherAddress>> WatchersOfAsync(string source, string key, DateTime now, CancellationToken cancellationToken = default);

    /// <summary>Removes up to <paramref name="limit"/> watchers whose lease ended before <paramref name="now"/>; returns how many.</summary>
    Task<int> RemoveExpiredAsync(string source, DateTime now, int limit, CancellationToken cancellationToken = default);

    /// <summary>Live watchers per watched key or prefix (prefixes end with <c>*</c>), for the <c>watchers</c> gauge.</summary>
    Task<IReadOnlyDictionary<string, int>> CountWatchersAsync(string source, DateTime now, CancellationToken cancellationToken = default);

    /// <summary>
    /// The first <paramref name="limit"/> keys of <paramref name="source"/> in key order (ordinal in memory, the database's collation on EF Core), each with its version and
    /// the number of its live watchers at <paramref name="now"/> (exact or by prefix), for the dashboard. Stores written before
    /// this member throw <see cref="NotSupportedException"/>.
    /// </summary>
    Task<IReadOnlyList<WatchKeyInfo>> ListKeysAsync(string source, DateTime now, int limit, CancellationToken cancellationToken = default) =>
        throw new NotSupportedException($"{GetType().Name} does not list its keys: implement IWatchStore.ListKeysAsync.");
}
