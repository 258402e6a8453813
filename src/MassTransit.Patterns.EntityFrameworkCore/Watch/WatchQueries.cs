using MassTransit.Patterns.Watch;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.EntityFrameworkCore.Watch;

/// <summary>The store's two hot statements, in one place so they can be checked offline for SQL Server.</summary>
static class WatchQueries
{
    /// <summary>Version + 1, the value and its time, in one UPDATE of the key's row (0 rows: the key is new).</summary>
    public static Task<int> IncrementVersion(DbContext db, string source, string key, string value, DateTime now, CancellationToken cancellationToken) =>
        db.Set<WatchValueRow>().Where(x => x.Source == source && x.Key == key)
            .ExecuteUpdateAsync(s => s.SetProperty(x => x.Version, x => x.Version + 1).SetProperty(x => x.Value, value).SetProperty(x => x.ChangedAt, now),
                cancellationToken);

    /// <summary>The live watchers of <paramref name="key"/>: an exact registration of it, or a prefix among <paramref name="patterns"/> (its prefixes).</summary>
    public static IQueryable<WatcherRow> WatchersOf(DbContext db, string source, string key, List<string> patterns, DateTime now) =>
        (from k in db.Set<WatchedKeyRow>()
         where k.Source == source && patterns.Contains(k.Pattern) && (k.IsPrefix || k.Pattern == key)
         join w in db.Set<WatcherRow>() on new { k.Source, k.WatcherId } equals new { w.Source, w.WatcherId }
         where w.ExpiresAt >= now
         select w)
        .AsNoTracking().Distinct();

    /// <summary>The first <paramref name="limit"/> keys of <paramref name="source"/> by key, each with its live watchers (exact or by prefix), in one statement.</summary>
    public static IQueryable<KeyWithWatchers> KeysWithWatchers(DbContext db, string source, DateTime now, int limit) =>
        db.Set<WatchValueRow>().AsNoTracking()
            .Where(v => v.Source == source)
            .OrderBy(v => v.Key)
            .Take(limit)
            .Select(v => new KeyWithWatchers(v.Key, v.Version, v.ChangedAt,
                db.Set<WatchedKeyRow>()
                    .Where(k => k.Source == source && ((!k.IsPrefix && k.Pattern == v.Key) || (k.IsPrefix && v.Key.StartsWith(k.Pattern))))
                    .Where(k => db.Set<WatcherRow>().Any(w => w.Source == k.Source && w.WatcherId == k.WatcherId && w.ExpiresAt >= now))
                    .Select(k => k.WatcherId)
                    .Distinct()
                    .Count()));

    /// <summary>A row of <see cref="KeysWithWatchers"/>.</summary>
    public sealed record KeyWithWatchers(string Key, long Version, DateTime ChangedAt, int Watchers);
}
