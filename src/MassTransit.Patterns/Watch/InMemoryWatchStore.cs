namespace MassTransit.Patterns.Watch;

/// <summary>
/// The watch store of one process: values, versions and watchers in memory, under one lock. Versions
/// restart at 1 with the process; use the EF Core store when they must survive a restart or several
/// source instances share the registry.
/// </summary>
public sealed class InMemoryWatchStore : IWatchStore
{
    sealed record Watcher(Uri Address, string[] Keys, string[] Prefixes, DateTime ExpiresAt);

    readonly Lock _lock = new();
    readonly Dictionary<(string Source, string Key), StoredWatchValue> _values = [];
    readonly Dictionary<(string Source, Guid Id), Watcher> _watchers = [];

    /// <inheritdoc />
    public Task<StoredWatchValue> SetAsync(string source, string key, string value, DateTime now, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            var version = _values.TryGetValue((source, key), out var current) ? current.Version + 1 : 1;
            var stored = new StoredWatchValue(key, version, value, now);
            _values[(source, key)] = stored;
            return Task.FromResult(stored);
        }
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<StoredWatchValue>> GetAsync(string source, IReadOnlyCollection<string> keys, IReadOnlyCollection<string> prefixes,
        CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            IReadOnlyList<StoredWatchValue> found = _values
                .Where(v => v.Key.Source == source && (keys.Contains(v.Key.Key) || prefixes.Any(p => v.Key.Key.StartsWith(p, StringComparison.Ordinal))))
                .Select(v => v.Value)
                .OrderBy(v => v.Key, StringComparer.Ordinal)
                .ToList();
            return Task.FromResult(found);
        }
    }

    /// <inheritdoc />
    public Task RegisterAsync(WatcherRegistration registration, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(registration);
        lock (_lock)
            _watchers[(registration.Source, registration.WatcherId)] = new Watcher(registration.Address, [.. registration.Keys.Distinct()],
                [.. registration.Prefixes.Distinct()], registration.ExpiresAt);
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task<bool> RemoveAsync(string source, Guid watcherId, CancellationToken cancellationToken = default)
    {
        lock (_lock)
            return Task.FromResult(_watchers.Remove((source, watcherId)));
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<WatcherAddress>> WatchersOfAsync(string source, string key, DateTime now, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            IReadOnlyList<WatcherAddress> found = _watchers
                .Where(w => w.Key.Source == source && w.Value.ExpiresAt >= now
                    && (w.Value.Keys.Contains(key) || w.Value.Prefixes.Any(p => key.StartsWith(p, StringComparison.Ordinal))))
                .Select(w => new WatcherAddress(w.Key.Id, w.Value.Address))
                .ToList();
            return Task.FromResult(found);
        }
    }

    /// <inheritdoc />
    public Task<int> RemoveExpiredAsync(string source, DateTime now, int limit, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            var expired = _watchers.Where(w => w.Key.Source == source && w.Value.ExpiresAt < now).Take(limit).Select(w => w.Key).ToList();
            foreach (var id in expired)
                _watchers.Remove(id);
            return Task.FromResult(expired.Count);
        }
    }

    /// <inheritdoc />
    public Task<IReadOnlyDictionary<string, int>> CountWatchersAsync(string source, DateTime now, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            IReadOnlyDictionary<string, int> counts = _watchers
                .Where(w => w.Key.Source == source && w.Value.ExpiresAt >= now)
                .SelectMany(w => w.Value.Keys.Concat(w.Value.Prefixes.Select(p => p + "*")))
                .GroupBy(k => k, StringComparer.Ordinal)
                .ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
            return Task.FromResult(counts);
        }
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<WatchKeyInfo>> ListKeysAsync(string source, DateTime now, int limit, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            var live = _watchers.Where(w => w.Key.Source == source && w.Value.ExpiresAt >= now).Select(w => w.Value).ToList();
            IReadOnlyList<WatchKeyInfo> keys = _values
                .Where(v => v.Key.Source == source)
                .Select(v => v.Value)
                .OrderBy(v => v.Key, StringComparer.Ordinal)
                .Take(limit)
                .Select(v => new WatchKeyInfo(v.Key, v.Version, v.ChangedAt,
                    live.Count(w => w.Keys.Contains(v.Key) || w.Prefixes.Any(p => v.Key.StartsWith(p, StringComparison.Ordinal)))))
                .ToList();
            return Task.FromResult(keys);
        }
    }
}
