using MassTransit.Patterns.Configuration;
using MassTransit.Patterns.Requests;
using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.Watch;

/// <summary>One watcher: its values by key, the version rule, and the registration and renewal loop.</summary>
sealed partial class Watcher<TValue> : IWatcher<TValue>
{
    readonly WatcherHub<TValue> _hub;
    readonly WatcherOptions _options;
    readonly TimeProvider _time;
    readonly ILogger _logger;
    readonly Lock _lock = new();
    readonly Dictionary<string, WatchEntry<TValue>> _values = new(StringComparer.Ordinal);

    /// <summary>Keys whose Changed handlers are running now, each with the newest version applied since (null: none).</summary>
    readonly Dictionary<string, WatchEntry<TValue>?> _raising = new(StringComparer.Ordinal);
    readonly TaskCompletionSource _registered = new(TaskCreationOptions.RunContinuationsAsynchronously);
    CancellationTokenSource? _running;
    Task? _loop;
    long _applied;
    long _registrations;
    long _stale;
    int _disposed;

    public Watcher(WatcherHub<TValue> hub, WatcherOptions options, TimeProvider time, ILogger logger)
    {
        _hub = hub;
        _options = options;
        _time = time;
        _logger = logger;
        WatcherId = options.WatcherId ?? NewId.NextGuid();
    }

    public Guid WatcherId { get; }

    public Uri? Address { get; private set; }

    public Task Registered => _registered.Task;

    public long Applied => Interlocked.Read(ref _applied);

    public long StaleIgnored => Interlocked.Read(ref _stale);

    /// <summary>Successful registrations and renewals so far.</summary>
    public long Registrations => Interlocked.Read(ref _registrations);

    /// <summary>The lease the source granted at the last registration.</summary>
    public TimeSpan? Lease { get; private set; }

    public event EventHandler<WatchEntry<TValue>>? Changed;

    public IReadOnlyDictionary<string, WatchEntry<TValue>> Values
    {
        get
        {
            lock (_lock)
                return new Dictionary<string, WatchEntry<TValue>>(_values, StringComparer.Ordinal);
        }
    }

    public bool TryGetValue(string key, out WatchEntry<TValue> entry)
    {
        lock (_lock)
            return _values.TryGetValue(key, out entry!);
    }

    /// <summary>
    /// Applies <paramref name="entry"/> when it is newer than the version held for its key; an older or
    /// equal version, whatever the order in which replies and notifications arrive, changes nothing.
    /// Then raises <see cref="Changed"/>, per key one call at a time and in version order (see <see cref="Raise"/>).
    /// </summary>
    internal bool Apply(WatchEntry<TValue> entry, bool notification)
    {
        bool raise;
        lock (_lock)
        {
            if (_values.TryGetValue(entry.Key, out var held) && held.Version >= entry.Version)
            {
                Interlocked.Increment(ref _stale);
                _hub.Metrics.StaleDropped.Add(1, WatchMetrics.ValueType<TValue>());
                return false;
            }
            _values[entry.Key] = entry;

            // Versions applied to a key only grow, so the newest pending one is this one. When a handler of the
            // key is running (on another thread), it is left to that thread, which raises it after its call.
            raise = _raising.TryAdd(entry.Key, null);
            if (!raise)
                _raising[entry.Key] = entry;
        }

        Interlocked.Increment(ref _applied);
        _hub.Metrics.Applied.Add(1, WatchMetrics.ValueType<TValue>());
        if (notification)
            _hub.Metrics.Convergence.Record(Math.Max(0, (_time.GetUtcNow() - entry.ChangedAt).TotalMilliseconds), WatchMetrics.ValueType<TValue>());
        if (raise)
            Raise(entry);
        return true;
    }

    /// <summary>
    /// Raises <see cref="Changed"/> for <paramref name="entry"/>, then for the newest version of its key applied
    /// meanwhile, until none is pending. Only one thread raises a key's events at a time, so a handler never sees
    /// a lower version after a higher one and two calls for one key never overlap; no lock is held while the
    /// handler runs, and other threads hand over a newer version without waiting (versions applied during a
    /// handler's call are skipped but the newest, as a late older notification is). Other keys are not held up.
    /// </summary>
    void Raise(WatchEntry<TValue> entry)
    {
        while (true)
        {
            try
            {
                Changed?.Invoke(this, entry);
            }
            catch (Exception exception)
            {
                LogHandlerFailed(exception, WatcherId, entry.Key);
            }

            lock (_lock)
            {
                if (_raising[entry.Key] is not { } next)
                {
                    _raising.Remove(entry.Key);
                    return;
                }
                _raising[entry.Key] = null;
                entry = next;
            }
        }
    }

    internal void Start(Uri address)
    {
        if (_loop is not null)
            return;
        Address = address;
        _running = new CancellationTokenSource();
        _loop = RunAsync(_running.Token);
    }

    async Task RunAsync(CancellationToken cancellationToken)
    {
        await Task.Yield();
        while (!cancellationToken.IsCancellationRequested)
        {
            TimeSpan next;
            var started = _time.GetUtcNow();
            try
            {
                var lease = await RegisterOnceAsync(cancellationToken).ConfigureAwait(false);
                Lease = lease;
                Interlocked.Increment(ref _registrations);
                RecordRenewed(lease);
                _registered.TrySetResult();
                next = lease > TimeSpan.Zero && lease / 2 < _options.RenewInterval ? lease / 2 : _options.RenewInterval;
            }
            catch (WatchRejectedException exception)
            {
                LogRejected(WatcherId, exception.Message);
                RecordFailed(exception, rejected: true);
                _registered.TrySetException(exception);
                return;
            }
            catch (Exception exception) when (!cancellationToken.IsCancellationRequested)
            {
                LogRegistrationFailed(exception, WatcherId, _options.RetryInterval);
                RecordFailed(exception, rejected: false);
                next = _options.RetryInterval;
            }
            catch (OperationCanceledException)
            {
                return;
            }

            // Scheduled from when the attempt started, so that a slow reply does not push every later renewal back.
            var wait = started + next - _time.GetUtcNow();
            try
            {
                if (wait > TimeSpan.Zero)
                    await Task.Delay(wait, _time, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    async Task<TimeSpan> RegisterOnceAsync(CancellationToken cancellationToken)
    {
        var client = _hub.RegistrationClient(_options);
        var request = new RegisterWatch<TValue> { WatcherId = WatcherId, Address = Address!, Keys = [.. _options.Keys], Prefixes = [.. _options.Prefixes] };
        // Bounded as a whole: a registration whose send waits for the broker must not stop the renewals (BoundedRequest).
        var response = await BoundedRequest.GetAsync(token => client.GetResponse<WatchRegistered<TValue>, WatchRejected<TValue>>(request, token),
            _options.RegistrationTimeout, cancellationToken).ConfigureAwait(false);
        if (response.Is(out Response<WatchRejected<TValue>>? rejected))
            throw new WatchRejectedException($"The watch source refused watcher {WatcherId}: {rejected.Message.Reason}.");
        if (!response.Is(out Response<WatchRegistered<TValue>>? accepted))
            throw new InvalidOperationException("The watch source answered neither registered nor rejected.");
        var registered = accepted.Message;
        foreach (var entry in registered.Values)
            Apply(entry, notification: false);
        return registered.Lease;
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
            return;
        await StopAsync(_options.UnregisterOnStop).ConfigureAwait(false);
        _hub.Remove(this);
    }

    internal async Task StopAsync(bool unregister)
    {
        if (_running is not null)
        {
            await _running.CancelAsync().ConfigureAwait(false);
            if (_loop is not null)
                await _loop.ConfigureAwait(false);
            _running.Dispose();
            _running = null;
        }
        _registered.TrySetCanceled();
        if (unregister && Lease is not null)
        {
            try
            {
                await _hub.CancelAsync(_options, WatcherId).ConfigureAwait(false);
            }
            catch (Exception exception)
            {
                LogCancelFailed(exception, WatcherId);
            }
        }
    }

    [LoggerMessage(101, LogLevel.Warning, "Watcher {WatcherId}: a Changed handler failed for key {Key}")]
    partial void LogHandlerFailed(Exception exception, Guid watcherId, string key);

    [LoggerMessage(102, LogLevel.Warning, "Watcher {WatcherId}: registration failed, trying again in {Retry}")]
    partial void LogRegistrationFailed(Exception exception, Guid watcherId, TimeSpan retry);

    [LoggerMessage(103, LogLevel.Error, "Watcher {WatcherId}: {Reason}")]
    partial void LogRejected(Guid watcherId, string reason);

    [LoggerMessage(104, LogLevel.Warning, "Watcher {WatcherId}: could not cancel its registration; the source prunes it when its lease ends")]
    partial void LogCancelFailed(Exception exception, Guid watcherId);
}
