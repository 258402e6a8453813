using MassTransit.Patterns.Watch;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.EntityFrameworkCore.Watch;

/// <summary>
/// The watch store on EF Core (SQLite, PostgreSQL, SQL Server): values and versions in <c>WatchValue</c>,
/// the registry in <c>Watcher</c> and <c>WatchedKey</c> (map them with
/// <see cref="WatchModelBuilderExtensions.AddWatchEntities"/>). A version is incremented by the database
/// under the row's write lock, so it is monotonic per key across restarts and across source instances
/// sharing the database. Each operation runs in its own scope and transaction.
/// </summary>
/// <typeparam name="TDbContext">The application's DbContext that maps the watch tables.</typeparam>
public sealed class EntityFrameworkWatchStore<TDbContext> : IWatchStore
    where TDbContext : DbContext
{
    const int Attempts = 10;
    readonly IServiceScopeFactory _scopes;

    /// <summary>Created by the container.</summary>
    public EntityFrameworkWatchStore(IServiceScopeFactory scopes) => _scopes = scopes;

    /// <summary>Reads outside a transaction (on SQLite a transaction takes the database's write lock).</summary>
    async Task<T> ReadAsync<T>(Func<TDbContext, CancellationToken, Task<T>> work, CancellationToken cancellationToken)
    {
        await using var scope = _scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<TDbContext>();
        return await db.Database.CreateExecutionStrategy().ExecuteAsync(ct => work(db, ct), cancellationToken).ConfigureAwait(false);
    }

    async Task<T> RunAsync<T>(Func<TDbContext, CancellationToken, Task<T>> work, CancellationToken cancellationToken, bool retryConflicts = false)
    {
        for (var attempt = 1; ; attempt++)
        {
            await using var scope = _scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<TDbContext>();
            var strategy = db.Database.CreateExecutionStrategy();
            try
            {
                return await strategy.ExecuteAsync(async ct =>
                {
                    db.ChangeTracker.Clear();
                    await using var transaction = await db.Database.BeginTransactionAsync(ct).ConfigureAwait(false);
                    var result = await work(db, ct).ConfigureAwait(false);
                    await transaction.CommitAsync(ct).ConfigureAwait(false);
                    return result;
                }, cancellationToken).ConfigureAwait(false);
            }
            catch (DbUpdateException) when (retryConflicts && attempt < Attempts)
            {
                // Two first writes of one key (or registrations of one watcher) raced on the primary key: go again, now as an update.
            }
        }
    }

    /// <inheritdoc />
    public Task<StoredWatchValue> SetAsync(string source, string key, string value, DateTime now, CancellationToken cancellationToken = default) =>
        RunAsync(async (db, ct) =>
        {
            var values = db.Set<WatchValueRow>();
            // The increment happens in the database and takes the row's write lock until commit; the read below sees our own write.
            var updated = await WatchQueries.IncrementVersion(db, source, key, value, now, ct).ConfigureAwait(false);
            if (updated == 0)
            {
                values.Add(new WatchValueRow { Source = source, Key = key, Version = 1, Value = value, ChangedAt = now });
                await db.SaveChangesAsync(ct).ConfigureAwait(false);
                return new StoredWatchValue(key, 1, value, now);
            }
            var version = await values.Where(x => x.Source == source && x.Key == key).Select(x => x.Version).SingleAsync(ct).ConfigureAwait(false);
            return new StoredWatchValue(key, version, value, now);
        }, cancellationToken, retryConflicts: true);

    /// <inheritdoc />
    public Task<IReadOnlyList<StoredWatchValue>> GetAsync(string source, IReadOnlyCollection<string> keys, IReadOnlyCollection<string> prefixes,
        CancellationToken cancellationToken = default) =>
        ReadAsync<IReadOnlyList<StoredWatchValue>>(async (db, ct) =>
        {
            var values = db.Set<WatchValueRow>().AsNoTracking().Where(x => x.Source == source);
            var found = new Dictionary<string, StoredWatchValue>(StringComparer.Ordinal);
            var exact = keys.Distinct().ToList();
            if (exact.Count > 0)
                foreach (var row in await values.Where(x => exact.Contains(x.Key)).ToListAsync(ct).ConfigureAwait(false))
                    found[row.Key] = ToStored(row);
            foreach (var prefix in prefixes.Distinct())
                foreach (var row in await values.Where(x => x.Key.StartsWith(prefix)).ToListAsync(ct).ConfigureAwait(false))
                    if (row.Key.StartsWith(prefix, StringComparison.Ordinal))
                        found[row.Key] = ToStored(row);
            return found.Values.OrderBy(v => v.Key, StringComparer.Ordinal).ToList();
        }, cancellationToken);

    static StoredWatchValue ToStored(WatchValueRow row) => new(row.Key, row.Version, row.Value, DateTime.SpecifyKind(row.ChangedAt, DateTimeKind.Utc));

    /// <inheritdoc />
    public Task RegisterAsync(WatcherRegistration registration, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(registration);
        var source = registration.Source;
        var id = registration.WatcherId;
        var address = registration.Address.ToString();
        var wanted = registration.Keys.Distinct().Select(k => (k, false)).Concat(registration.Prefixes.Distinct().Select(p => (p, true))).ToHashSet();
        return RunAsync(async (db, ct) =>
        {
            var renewed = await db.Set<WatcherRow>().Where(w => w.Source == source && w.WatcherId == id)
                .ExecuteUpdateAsync(s => s.SetProperty(w => w.Address, address).SetProperty(w => w.ExpiresAt, registration.ExpiresAt), ct).ConfigureAwait(false);
            var keys = db.Set<WatchedKeyRow>().Where(k => k.Source == source && k.WatcherId == id);
            if (renewed == 1)
            {
                var held = (await keys.Select(k => new { k.Pattern, k.IsPrefix }).ToListAsync(ct).ConfigureAwait(false)).Select(k => (k.Pattern, k.IsPrefix)).ToHashSet();
                if (held.SetEquals(wanted))
                    return 0;
            }
            else
                db.Set<WatcherRow>().Add(new WatcherRow { Source = source, WatcherId = id, Address = address, ExpiresAt = registration.ExpiresAt });

            await keys.ExecuteDeleteAsync(ct).ConfigureAwait(false);
            db.Set<WatchedKeyRow>().AddRange(wanted.Select(k => new WatchedKeyRow { Source = source, WatcherId = id, Pattern = k.Item1, IsPrefix = k.Item2 }));
            await db.SaveChangesAsync(ct).ConfigureAwait(false);
            return 0;
        }, cancellationToken, retryConflicts: true);
    }

    /// <inheritdoc />
    public Task<bool> RemoveAsync(string source, Guid watcherId, CancellationToken cancellationToken = default) =>
        RunAsync(async (db, ct) =>
        {
            var removed = await db.Set<WatcherRow>().Where(w => w.Source == source && w.WatcherId == watcherId).ExecuteDeleteAsync(ct).ConfigureAwait(false);
            await db.Set<WatchedKeyRow>().Where(k => k.Source == source && k.WatcherId == watcherId).ExecuteDeleteAsync(ct).ConfigureAwait(false);
            return removed > 0;
        }, cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<WatcherAddress>> WatchersOfAsync(string source, string key, DateTime now, CancellationToken cancellationToken = default)
    {
        // Every prefix of the key (and the key itself): the watched patterns that can match it, found through the key table's primary key.
        var patterns = Enumerable.Range(1, key.Length).Select(n => key[..n]).ToList();
        return ReadAsync<IReadOnlyList<WatcherAddress>>(async (db, ct) =>
        {
            var rows = await WatchQueries.WatchersOf(db, source, key, patterns, now).ToListAsync(ct).ConfigureAwait(false);
            return rows.Select(r => new WatcherAddress(r.WatcherId, new Uri(r.Address))).ToList();
        }, cancellationToken);
    }

    /// <inheritdoc />
    public Task<int> RemoveExpiredAsync(string source, DateTime now, int limit, CancellationToken cancellationToken = default) =>
        RunAsync(async (db, ct) =>
        {
            var expired = await db.Set<WatcherRow>().Where(w => w.Source == source && w.ExpiresAt < now).OrderBy(w => w.ExpiresAt).Take(limit)
                .Select(w => w.WatcherId).ToListAsync(ct).ConfigureAwait(false);
            if (expired.Count == 0)
                return 0;
            // The lease is checked again by the delete: a watcher renewed in the meantime stays, and so do its keys.
            var removed = await db.Set<WatcherRow>().Where(w => w.Source == source && expired.Contains(w.WatcherId) && w.ExpiresAt < now)
                .ExecuteDeleteAsync(ct).ConfigureAwait(false);
            await db.Set<WatchedKeyRow>()
                .Where(k => k.Source == source && expired.Contains(k.WatcherId) && !db.Set<WatcherRow>().Any(w => w.Source == k.Source && w.WatcherId == k.WatcherId))
                .ExecuteDeleteAsync(ct).ConfigureAwait(false);
            return removed;
        }, cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyDictionary<string, int>> CountWatchersAsync(string source, DateTime now, CancellationToken cancellationToken = default) =>
        ReadAsync<IReadOnlyDictionary<string, int>>(async (db, ct) =>
        {
            var counts = await (
                    from k in db.Set<WatchedKeyRow>()
                    where k.Source == source
                    join w in db.Set<WatcherRow>() on new { k.Source, k.WatcherId } equals new { w.Source, w.WatcherId }
                    where w.ExpiresAt >= now
                    group k by new { k.Pattern, k.IsPrefix }
                    into g
                    select new { g.Key.Pattern, g.Key.IsPrefix, Count = g.Count() })
                .ToListAsync(ct).ConfigureAwait(false);
            return counts.ToDictionary(c => c.IsPrefix ? c.Pattern + "*" : c.Pattern, c => c.Count, StringComparer.Ordinal);
        }, cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<WatchKeyInfo>> ListKeysAsync(string source, DateTime now, int limit, CancellationToken cancellationToken = default) =>
        ReadAsync<IReadOnlyList<WatchKeyInfo>>(async (db, ct) =>
        {
            // One query: the keys with, for each, the live watchers whose exact key or prefix matches it.
            var rows = await WatchQueries.KeysWithWatchers(db, source, now, limit).ToListAsync(ct).ConfigureAwait(false);
            return rows.Select(r => new WatchKeyInfo(r.Key, r.Version, DateTime.SpecifyKind(r.ChangedAt, DateTimeKind.Utc), r.Watchers)).ToList();
        }, cancellationToken);
}
