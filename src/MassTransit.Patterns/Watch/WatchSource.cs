using System.Text.Json;
using MassTransit.Patterns.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.Watch;

/// <summary>The watch source of <typeparamref name="TValue"/>: store, fan-out, pruning and the lease sweep.</summary>
sealed partial class WatchSource<TValue> : IWatchSource<TValue>, IWatchSourceView
{
    long _prunedUnreachable;
    long _prunedExpired;

    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    readonly IServiceProvider _provider;
    readonly IWatchStore _store;
    readonly IWatchDeliveryTransport? _transport;
    readonly TimeProvider _time;
    readonly ILogger _logger;
    readonly WatchMetrics _metrics;
    CancellationTokenSource? _sweeping;
    Task? _sweep;

    public WatchSource(IServiceProvider provider, WatchSourceSettings<TValue> settings, IWatchStore store, TimeProvider? time, ILogger<WatchSource<TValue>> logger)
    {
        _provider = provider;
        Options = settings.Options;
        _store = store;
        _transport = provider.GetService<IWatchDeliveryTransport>();
        _metrics = provider.GetRequiredService<WatchMetrics>();
        _time = time ?? TimeProvider.System;
        _logger = logger;
        Name = Options.Name!;
    }

    public WatchSourceOptions Options { get; }

    public string Name { get; }

    public IWatchStore Store => _store;

    public long PrunedUnreachable => Interlocked.Read(ref _prunedUnreachable);

    public long PrunedExpired => Interlocked.Read(ref _prunedExpired);

    DateTime Now => _time.GetUtcNow().UtcDateTime;

    public async Task<WatchSetResult> Set(string key, TValue value, CancellationToken cancellationToken = default)
    {
        if (Options.Refuse(key) is { } reason)
            throw new ArgumentException($"The watch source {Name} refuses the key: {reason}.", nameof(key));

        var stored = await _store.SetAsync(Name, key, JsonSerializer.Serialize(value, Json), Now, cancellationToken).ConfigureAwait(false);
        var entry = new WatchEntry<TValue> { Key = key, Version = stored.Version, Value = value, ChangedAt = new DateTimeOffset(stored.ChangedAt, TimeSpan.Zero) };

        // The value is stored before the watchers are read; a registration stores the watcher before it reads
        // the values. So a watcher registering during this change either is read here or reads this version.
        var watchers = await _store.WatchersOfAsync(Name, key, Now, cancellationToken).ConfigureAwait(false);
        if (watchers.Count == 0)
            return new WatchSetResult(key, stored.Version, 0, 0, 0, 0);

        using var activity = PatternsDiagnostics.ActivitySource.StartActivity("watch.fan-out");
        activity?.SetTag(WatchMetrics.SourceTag, Name);
        activity?.SetTag(WatchMetrics.KeyTag, key);

        var bus = _provider.GetRequiredService<IBus>();
        int notified = 0, failed = 0, pruned = 0;
        await Parallel.ForEachAsync(watchers, new ParallelOptions { MaxDegreeOfParallelism = Options.FanOutConcurrency, CancellationToken = cancellationToken },
            async (watcher, token) =>
            {
                switch (await DeliverAsync(bus, watcher, entry, token).ConfigureAwait(false))
                {
                    case Delivery.Sent:
                        Interlocked.Increment(ref notified);
                        break;
                    case Delivery.Pruned:
                        Interlocked.Increment(ref failed);
                        Interlocked.Increment(ref pruned);
                        break;
                    default:
                        Interlocked.Increment(ref failed);
                        break;
                }
            }).ConfigureAwait(false);
        return new WatchSetResult(key, stored.Version, watchers.Count, notified, failed, pruned);
    }

    enum Delivery
    {
        Sent,
        Failed,
        Pruned
    }

    async Task<Delivery> DeliverAsync(IBus bus, WatcherAddress watcher, WatchEntry<TValue> entry, CancellationToken cancellationToken)
    {
        var message = new WatchChanged<TValue> { WatcherId = watcher.WatcherId, Entry = entry };
        Exception? last = null;
        for (var attempt = 1; attempt <= Options.DeliveryAttempts; attempt++)
        {
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(Options.SendTimeout);
                var endpoint = await bus.GetSendEndpoint(_transport?.DeliveryAddress(watcher.Address) ?? watcher.Address).ConfigureAwait(false);
                await endpoint.Send(message, context => _transport?.Prepare(context, watcher.Address), timeout.Token).ConfigureAwait(false);
                _metrics.NotificationsSent.Add(1, WatchMetrics.Source(Name));
                return Delivery.Sent;
            }
            catch (Exception exception) when (!cancellationToken.IsCancellationRequested)
            {
                last = exception;
                if (attempt < Options.DeliveryAttempts && Options.RetryInterval > TimeSpan.Zero)
                    await Task.Delay(Options.RetryInterval * (1 << Math.Min(attempt - 1, 16)), _time, cancellationToken).ConfigureAwait(false);
            }
        }

        _metrics.NotificationsFailed.Add(1, WatchMetrics.Source(Name));
        if (last is not null && _transport?.IsUnreachable(last) == true)
        {
            if (!await _store.RemoveAsync(Name, watcher.WatcherId, cancellationToken).ConfigureAwait(false))
                return Delivery.Failed;     // pruned meanwhile by another change's fan-out
            _metrics.Pruned.Add(1, WatchMetrics.Reason(Name, "unreachable"));
            Interlocked.Increment(ref _prunedUnreachable);
            LogPrunedUnreachable(Name, watcher.WatcherId, watcher.Address, Options.DeliveryAttempts, last.Message);
            return Delivery.Pruned;
        }

        LogDeliveryFailed(last, Name, entry.Key, entry.Version, watcher.WatcherId, watcher.Address, Options.DeliveryAttempts);
        return Delivery.Failed;
    }

    public async Task<WatchEntry<TValue>?> Get(string key, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        var found = await _store.GetAsync(Name, [key], [], cancellationToken).ConfigureAwait(false);
        return found.Count == 0 ? null : ToEntry(found[0]);
    }

    internal static WatchEntry<TValue> ToEntry(StoredWatchValue stored) => new()
    {
        Key = stored.Key,
        Version = stored.Version,
        Value = JsonSerializer.Deserialize<TValue>(stored.Value, Json)!,
        ChangedAt = new DateTimeOffset(DateTime.SpecifyKind(stored.ChangedAt, DateTimeKind.Utc))
    };

    /// <summary>Registers or renews a watcher, then reads the current values (in that order: see <see cref="Set"/>).</summary>
    internal async Task<object> RegisterAsync(RegisterWatch<TValue> request, CancellationToken cancellationToken)
    {
        var keys = request.Keys ?? [];
        var prefixes = request.Prefixes ?? [];
        var refusal = request.WatcherId == Guid.Empty ? "no watcher id"
            : request.Address is null ? "no address"
            : keys.Count + prefixes.Count == 0 ? "no key and no prefix"
            : keys.Select(k => Options.Refuse(k)).Concat(prefixes.Select(p => Options.Refuse(p, prefix: true))).FirstOrDefault(r => r is not null);
        if (refusal is not null)
        {
            LogRejected(Name, request.WatcherId, refusal);
            return new WatchRejected<TValue> { WatcherId = request.WatcherId, Reason = refusal };
        }

        await _store.RegisterAsync(new WatcherRegistration(Name, request.WatcherId, request.Address!, keys, prefixes, Now + Options.LeaseDuration), cancellationToken)
            .ConfigureAwait(false);
        var values = await _store.GetAsync(Name, keys, prefixes, cancellationToken).ConfigureAwait(false);
        _metrics.Registrations.Add(1, WatchMetrics.Source(Name));
        return new WatchRegistered<TValue> { WatcherId = request.WatcherId, Values = values.Select(ToEntry).ToList(), Lease = Options.LeaseDuration };
    }

    internal Task<bool> CancelAsync(Guid watcherId, CancellationToken cancellationToken) => _store.RemoveAsync(Name, watcherId, cancellationToken);

    public async Task<int> PruneExpired(CancellationToken cancellationToken = default)
    {
        var removed = await _store.RemoveExpiredAsync(Name, Now, 10_000, cancellationToken).ConfigureAwait(false);
        if (removed > 0)
        {
            _metrics.Pruned.Add(removed, WatchMetrics.Reason(Name, "lease_expired"));
            Interlocked.Add(ref _prunedExpired, removed);
            LogPrunedExpired(Name, removed);
        }
        _metrics.SetWatcherCounts(Name, await _store.CountWatchersAsync(Name, Now, cancellationToken).ConfigureAwait(false));
        return removed;
    }

    internal void StartSweep()
    {
        if (_sweep is not null)
            return;
        _sweeping = new CancellationTokenSource();
        _sweep = SweepAsync(_sweeping.Token);
    }

    internal async Task StopSweepAsync()
    {
        if (_sweeping is null || _sweep is null)
            return;
        await _sweeping.CancelAsync().ConfigureAwait(false);
        try
        {
            await _sweep.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        _sweeping.Dispose();
        _sweeping = null;
        _sweep = null;
    }

    async Task SweepAsync(CancellationToken cancellationToken)
    {
        var due = _time.GetUtcNow();
        while (!cancellationToken.IsCancellationRequested)
        {
            // A fixed schedule: a slow sweep does not push the next ones back.
            due += Options.SweepInterval;
            var wait = due - _time.GetUtcNow();
            if (wait > TimeSpan.Zero)
                await Task.Delay(wait, _time, cancellationToken).ConfigureAwait(false);
            try
            {
                await PruneExpired(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception exception) when (!cancellationToken.IsCancellationRequested)
            {
                LogSweepFailed(exception, Name);
            }
        }
    }

    internal void WarnNoDeliveryTransport() => LogNoDeliveryTransport(Name);

    [LoggerMessage(6, LogLevel.Warning, "Watch source {Source} runs on RabbitMQ without services.AddRabbitMqWatchDelivery(): a dead watcher is pruned only when its lease ends, and each notification to it declares its exchange again")]
    partial void LogNoDeliveryTransport(string source);

    [LoggerMessage(1, LogLevel.Information, "Watch source {Source}: pruned watcher {WatcherId} at {Address}, unreachable after {Attempts} attempts ({Reason})")]
    partial void LogPrunedUnreachable(string source, Guid watcherId, Uri address, int attempts, string reason);

    [LoggerMessage(2, LogLevel.Warning, "Watch source {Source}: version {Version} of {Key} not delivered to watcher {WatcherId} at {Address} after {Attempts} attempts; its next renewal catches it up")]
    partial void LogDeliveryFailed(Exception? exception, string source, string key, long version, Guid watcherId, Uri address, int attempts);

    [LoggerMessage(3, LogLevel.Information, "Watch source {Source}: pruned {Count} watchers whose lease expired")]
    partial void LogPrunedExpired(string source, int count);

    [LoggerMessage(4, LogLevel.Warning, "Watch source {Source}: sweep of expired watchers failed")]
    partial void LogSweepFailed(Exception exception, string source);

    [LoggerMessage(5, LogLevel.Warning, "Watch source {Source}: registration of watcher {WatcherId} refused: {Reason}")]
    partial void LogRejected(string source, Guid watcherId, string reason);
}
