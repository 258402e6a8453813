using System.Collections.Concurrent;
using System.Diagnostics;
using MassTransit.Patterns.EventForwarding;
using MassTransit.Serialization;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MassTransit.Patterns.EntityFrameworkCore.EventForwarding;

/// <summary>
/// Delivers committed outbox rows of <typeparamref name="TDbContext"/> to the broker and deletes them
/// once confirmed. Only the holder of the delivery lease delivers, so two instances sharing the
/// database do not send the same row (if a holder stalls past its lease, the next one may resend a
/// row it already sent: delivery is at least once, and the consumer's inbox drops the copy). Rows
/// this process committed are handed over in memory after the commit
/// (<see cref="OutboxDeliverySignal{TDbContext}.Handoff"/>) and sent without being read back; the table
/// is read (the oldest groups first) when the lease was just taken, when a read was requested (a
/// dropped handover, a failed delivery, another transaction's commit) and every
/// <see cref="PatternsEntityFrameworkOutboxOptions.DeliveryInterval"/>. Groups (one per consumed
/// message or handler scope) go out in parallel, the messages of a group one after another in the
/// order they were sent, each through the event forwarding send policy (send timeout, bounded
/// resends, same message id). A failed message stops its group until the next read of the table.
/// Rounds run one after another; the confirmed rows of a round are deleted with one statement.
/// </summary>
sealed partial class OutboxDeliveryService<TDbContext> : BackgroundService, IOutboxDelivery
    where TDbContext : DbContext
{
    /// <summary>How long a row delivered from a read of the table is remembered, so that its handover arriving late is not sent again.</summary>
    static readonly TimeSpan RecentlyRead = TimeSpan.FromSeconds(30);

    readonly IBusControl _bus;
    readonly ILogger _logger;
    readonly string _name = typeof(TDbContext).Name;
    readonly PatternsEntityFrameworkOutboxOptions _options;
    readonly Guid _owner = NewId.NextGuid();
    readonly EventForwardingSendPolicy _policy;
    readonly IServiceScopeFactory _scopes;
    readonly OutboxDeliverySignal<TDbContext> _signal;
    readonly ForwardingMetrics _metrics;
    readonly KeyValuePair<string, object?> _tag;

    // Touched by the delivery loop only (rounds run one after another).
    readonly HashSet<Guid> _blocked = [];
    readonly HashSet<long> _unDeleted = [];
    HashSet<long> _readRecently = [];
    HashSet<long> _readBefore = [];
    long _rotated;
    long _lastSweep;
    bool _holding;
    DateTime _leaseUntil;
    long _nextSample;
    long _tableRounds;

    // Read by the operations view (any thread).
    readonly DeliveryLagWindow _lags = new();
    long _delivered;
    long _deliveryFailures;

    /// <summary>Created once by the container.</summary>
    public OutboxDeliveryService(IServiceScopeFactory scopes, IBusControl bus, IOptionsMonitor<PatternsEntityFrameworkOutboxOptions> options,
        IOptions<EventForwardingOptions> forwarding, OutboxDeliverySignal<TDbContext> signal, ILogger<OutboxDeliveryService<TDbContext>> logger,
        EventForwardingMetrics forwardingMetrics, ForwardingMetrics metrics)
    {
        _metrics = metrics;
        _scopes = scopes;
        _bus = bus;
        _options = options.Get(EntityFrameworkCoreEventForwardingConfigurationExtensions.OptionsName<TDbContext>());
        _policy = new EventForwardingSendPolicy(forwarding.Value, "outbox", forwardingMetrics);
        _signal = signal;
        _logger = logger;
        _tag = new KeyValuePair<string, object?>(ForwardingMetrics.DbContextTag, _name);
    }

    /// <summary>The id this instance holds the lease under.</summary>
    public Guid Owner => _owner;

    /// <summary>Whether this instance held the delivery lease at its last attempt.</summary>
    public bool HoldsLease => _holding;

    /// <inheritdoc />
    public string Name => _name;

    /// <inheritdoc />
    public OutboxDeliveryReading Read()
    {
        var (samples, p50, p99) = _lags.Read();
        return new OutboxDeliveryReading(Interlocked.Read(ref _delivered), Interlocked.Read(ref _deliveryFailures), Volatile.Read(ref _holding),
            samples, p50, p99);
    }

    /// <summary>Rounds that read the table and completed (for tests).</summary>
    internal long TableRounds => Interlocked.Read(ref _tableRounds);

    /// <summary>
    /// Fails the host start (<see cref="ConfigurationException"/>) when <typeparamref name="TDbContext"/>
    /// does not map the forwarding tables, whether or not this instance delivers: an API handler's
    /// outbox rows need them too. Then starts the delivery loop.
    /// </summary>
    public override Task StartAsync(CancellationToken cancellationToken)
    {
        EntityFrameworkCoreEventForwardingConfigurationExtensions.EnsureModel<TDbContext>(_scopes);
        return base.StartAsync(cancellationToken);
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!_options.DeliveryService)
            return;

        try
        {
            await _bus.WaitForHealthStatus(BusHealthStatus.Healthy, TimeSpan.FromSeconds(30)).WaitAsync(stoppingToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return;
        }

        var failures = 0;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                Round round;
                _signal.Arm();
                try
                {
                    round = await DeliverRoundAsync(stoppingToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
                {
                    break;
                }
                catch (Exception exception)
                {
                    LogRoundFailed(_logger, _name, exception.Message, exception);
                    _signal.RequestSweep();
                    round = new Round(0, false, true);
                }

                try
                {
                    failures = round.Failed && round.Delivered == 0 ? failures + 1 : 0;
                    if (failures > 0)
                        await Task.Delay(Backoff(failures), stoppingToken).ConfigureAwait(false);
                    else if (!round.More)
                        await _signal.WaitAsync(_holding ? UntilNextSweep() : Min(_options.DeliveryInterval, _options.LeaseDuration / 3), stoppingToken)
                            .ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }
        finally
        {
            _signal.Refuse();
        }

        await DeleteOnStopAsync().ConfigureAwait(false);
        await ReleaseLeaseAsync().ConfigureAwait(false);
    }

    /// <summary>Deletes the rows confirmed by a round the stop cut short (best effort: the next holder would send them again, and the inbox drop the copies).</summary>
    async Task DeleteOnStopAsync()
    {
        if (_unDeleted.Count == 0 || !_holding)
            return;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await using var scope = _scopes.CreateAsyncScope();
            await DeleteAsync(scope.ServiceProvider.GetRequiredService<TDbContext>(), [], timeout.Token).ConfigureAwait(false);
        }
        catch (Exception exception)
        {
            LogRoundFailed(_logger, _name, exception.Message, exception);
        }
    }

    TimeSpan Backoff(int failures) =>
        TimeSpan.FromTicks(Math.Min(_options.MaxDeliveryBackoff.Ticks, _options.DeliveryInterval.Ticks * (1L << Math.Min(failures - 1, 20))));

    TimeSpan UntilNextSweep()
    {
        var left = _options.DeliveryInterval - Stopwatch.GetElapsedTime(_lastSweep);
        return left > TimeSpan.Zero ? left : TimeSpan.Zero;
    }

    static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    readonly record struct Round(int Delivered, bool More, bool Failed);

    async Task<Round> DeliverRoundAsync(CancellationToken cancellationToken)
    {
        await using var scope = _scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<TDbContext>();
        var held = _holding;
        if (!await EnsureLeaseAsync(db, cancellationToken).ConfigureAwait(false))
        {
            // The holder's reads of the table find what was handed here.
            _signal.Refuse();
            _blocked.Clear();
            if (_unDeleted.Count > 0)
                await DeleteAsync(db, [], cancellationToken).ConfigureAwait(false);
            return new Round(0, false, false);
        }
        if (!held)
        {
            // Before the first read of the table: a commit handed over before this is found by that read.
            _signal.Accept(4 * _options.DeliveryBatchSize);
            _signal.RequestSweep();
        }

        await SampleBacklogAsync(db, cancellationToken).ConfigureAwait(false);

        var sweep = _signal.SweepRequested || UntilNextSweep() == TimeSpan.Zero;
        var (groups, more) = sweep
            ? await ReadTableAsync(db, cancellationToken).ConfigureAwait(false)
            : (TakeHanded(), false);

        var delivered = new ConcurrentBag<long>();
        var failed = new ConcurrentBag<Guid>();
        if (groups.Count > 0)
        {
            try
            {
                await Parallel.ForEachAsync(groups, new ParallelOptions { MaxDegreeOfParallelism = _options.DeliveryConcurrency, CancellationToken = cancellationToken },
                    async (group, token) =>
                    {
                        foreach (var row in group)
                        {
                            if (!await DeliverAsync(row, token).ConfigureAwait(false))
                            {
                                failed.Add(row.OutboxId);
                                return;
                            }
                            delivered.Add(row.SequenceNumber);
                        }
                    }).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // Stopping: what was confirmed is deleted on the way out, so the next holder does not send it again.
                _unDeleted.UnionWith(delivered);
                throw;
            }
        }

        foreach (var group in failed)
            _blocked.Add(group);
        if (!failed.IsEmpty)
            _signal.RequestSweep();
        if (sweep)
        {
            foreach (var sequenceNumber in delivered)
                _readRecently.Add(sequenceNumber);
        }
        if (!delivered.IsEmpty)
            (sweep ? _metrics.Swept : _metrics.HandedOff).Add(delivered.Count, _tag);

        if (!delivered.IsEmpty || _unDeleted.Count > 0)
            await DeleteAsync(db, delivered, cancellationToken).ConfigureAwait(false);

        if (sweep)
            Interlocked.Increment(ref _tableRounds);
        return new Round(delivered.Count, more || _signal.Pending > 0, !failed.IsEmpty);
    }

    /// <summary>
    /// A read of the table: forgets the handed groups (committed before the read, so it finds them), then
    /// reads the oldest groups' rows, leaving out the rows delivered and not yet deleted.
    /// </summary>
    async Task<(List<List<OutboxEntry>> Groups, bool More)> ReadTableAsync(TDbContext db, CancellationToken cancellationToken)
    {
        _signal.BeginSweep();
        _lastSweep = Stopwatch.GetTimestamp();
        // The groups stopped by a failure are read again here, from their first undelivered row.
        _blocked.Clear();
        if (Stopwatch.GetElapsedTime(_rotated) >= RecentlyRead)
        {
            (_readBefore, _readRecently) = (_readRecently, _readBefore);
            _readRecently.Clear();
            _rotated = Stopwatch.GetTimestamp();
        }

        var groupIds = await ForwardingQueries.PendingGroups(db, _options.DeliveryBatchSize).ToListAsync(cancellationToken).ConfigureAwait(false);
        if (groupIds.Count == 0)
            return ([], false);

        var limit = _options.DeliveryBatchSize * 10;
        var rows = await ForwardingQueries.GroupRows(db, groupIds, limit).ToListAsync(cancellationToken).ConfigureAwait(false);
        var more = groupIds.Count == _options.DeliveryBatchSize || rows.Count == limit;
        if (more)
            _signal.RequestSweep();

        var order = groupIds.Select((id, index) => (id, index)).ToDictionary(x => x.id, x => x.index);
        var groups = rows.Where(r => !_unDeleted.Contains(r.SequenceNumber))
            .GroupBy(r => r.OutboxId).OrderBy(g => order[g.Key]).Select(g => g.OrderBy(r => r.Position).ToList()).ToList();
        return (groups, more);
    }

    /// <summary>
    /// The groups handed over since the last round, without the rows a read of the table delivered
    /// already and without the groups stopped by a failure (the next read of the table delivers those).
    /// </summary>
    List<List<OutboxEntry>> TakeHanded()
    {
        var handed = new List<OutboxEntry[]>();
        _signal.Take(_options.DeliveryBatchSize, handed);
        var groups = new List<List<OutboxEntry>>(handed.Count);
        foreach (var group in handed)
        {
            if (_blocked.Contains(group[0].OutboxId))
                continue;
            var rows = new List<OutboxEntry>(group.Length);
            foreach (var row in group)
            {
                if (_readRecently.Remove(row.SequenceNumber) | _readBefore.Remove(row.SequenceNumber) || _unDeleted.Contains(row.SequenceNumber))
                    continue;
                rows.Add(row);
            }
            if (rows.Count > 0)
                groups.Add(rows);
        }
        return groups;
    }

    /// <summary>Deletes the confirmed rows, and those of earlier rounds whose delete failed, with one statement (per 2,000 on providers without array parameters).</summary>
    async Task DeleteAsync(TDbContext db, IEnumerable<long> delivered, CancellationToken cancellationToken)
    {
        _unDeleted.UnionWith(delivered);
        var all = _unDeleted.ToList();
        await ForwardingQueries.DeleteDelivered(db, all, cancellationToken).ConfigureAwait(false);
        _unDeleted.ExceptWith(all);
    }

    async Task<bool> DeliverAsync(OutboxEntry row, CancellationToken cancellationToken)
    {
        if (row.DestinationAddress is not { } destination)
        {
            LogNoDestination(_logger, _name, row.SequenceNumber, row.MessageId);
            return true;
        }

        var pipe = new OutboxRows.DeliveryPipe(new OutboxRows.Delivery(row));
        try
        {
            await _policy.SendAsync(row.MessageId, async token =>
            {
                var endpoint = await _bus.GetSendEndpoint(destination).ConfigureAwait(false);
                await endpoint.Send(new SerializedMessageBody(), pipe, token).ConfigureAwait(false);
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            _metrics.DeliveryFailures.Add(1, _tag);
            Interlocked.Increment(ref _deliveryFailures);
            LogDeliveryFailed(_logger, _name, row.SequenceNumber, row.MessageId, destination, exception.Message);
            return false;
        }

        var lag = Math.Max(0, (DateTime.UtcNow - row.SentTime).TotalMilliseconds);
        _metrics.Delivered.Add(1, _tag);
        _metrics.DeliveryLag.Record(lag, _tag);
        Interlocked.Increment(ref _delivered);
        _lags.Record(lag);
        return true;
    }

    async Task SampleBacklogAsync(TDbContext db, CancellationToken cancellationToken)
    {
        var now = Stopwatch.GetTimestamp();
        if (now < Interlocked.Read(ref _nextSample))
            return;
        Interlocked.Exchange(ref _nextSample, now + (long)(_options.BacklogSampleInterval.TotalSeconds * Stopwatch.Frequency));
        var (count, oldest) = await ForwardingQueries.ReadBacklogAsync(db, cancellationToken).ConfigureAwait(false);
        _metrics.RecordBacklog(_name, count, oldest is { } sent ? Math.Max(0, (DateTime.UtcNow - sent).TotalSeconds) : 0);
    }

    /// <summary>Takes or renews the lease with one conditional update; creates the lease row the first time.</summary>
    async Task<bool> EnsureLeaseAsync(TDbContext db, CancellationToken cancellationToken)
    {
        var now = DateTime.UtcNow;
        if (_holding && _leaseUntil - now > _options.LeaseDuration / 2)
            return true;

        var until = now + _options.LeaseDuration;
        var owner = _owner;
        var taken = await ForwardingQueries.TakeLease(db, owner, now, until, cancellationToken).ConfigureAwait(false);

        if (!taken && !await db.Set<OutboxLease>().AnyAsync(l => l.Name == ForwardingQueries.LeaseName, cancellationToken).ConfigureAwait(false))
        {
            db.Add(new OutboxLease { Name = ForwardingQueries.LeaseName, Owner = owner, ExpiresAt = until });
            try
            {
                await db.SaveChangesAsync(cancellationToken).ConfigureAwait(false);
                taken = true;
            }
            catch (DbUpdateException)
            {
                db.ChangeTracker.Clear();
            }
        }

        if (taken != _holding)
        {
            if (taken)
                LogLeaseTaken(_logger, _name, owner);
            else
                LogLeaseLost(_logger, _name, owner);
        }
        _holding = taken;
        _leaseUntil = taken ? until : default;
        return taken;
    }

    async Task ReleaseLeaseAsync()
    {
        if (!_holding)
            return;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await using var scope = _scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<TDbContext>();
            await ForwardingQueries.ReleaseLease(db, _owner, DateTime.UtcNow, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception exception)
        {
            LogReleaseFailed(_logger, _name, exception.Message);
        }
        _holding = false;
    }

    [LoggerMessage(EventId = 4111, Level = LogLevel.Warning, Message = "Outbox {DbContext}: delivery round failed: {Reason}")]
    static partial void LogRoundFailed(ILogger logger, string dbContext, string reason, Exception exception);

    [LoggerMessage(EventId = 4112, Level = LogLevel.Warning,
        Message = "Outbox {DbContext}: message {SequenceNumber} ({MessageId}) to {Destination} not confirmed, kept for the next round: {Reason}")]
    static partial void LogDeliveryFailed(ILogger logger, string dbContext, long sequenceNumber, Guid messageId, Uri destination, string reason);

    [LoggerMessage(EventId = 4113, Level = LogLevel.Error, Message = "Outbox {DbContext}: message {SequenceNumber} ({MessageId}) has no destination address and is dropped")]
    static partial void LogNoDestination(ILogger logger, string dbContext, long sequenceNumber, Guid messageId);

    [LoggerMessage(EventId = 4114, Level = LogLevel.Information, Message = "Outbox {DbContext}: delivery lease taken by {Owner}")]
    static partial void LogLeaseTaken(ILogger logger, string dbContext, Guid owner);

    [LoggerMessage(EventId = 4115, Level = LogLevel.Information, Message = "Outbox {DbContext}: delivery lease of {Owner} lost or held by another instance")]
    static partial void LogLeaseLost(ILogger logger, string dbContext, Guid owner);

    [LoggerMessage(EventId = 4116, Level = LogLevel.Warning, Message = "Outbox {DbContext}: the delivery lease could not be released on stop (it expires by itself): {Reason}")]
    static partial void LogReleaseFailed(ILogger logger, string dbContext, string reason);
}
