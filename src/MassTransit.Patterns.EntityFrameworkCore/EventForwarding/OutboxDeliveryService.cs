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
/// row it already sent: delivery is at least once, and the consumer's inbox drops the copy). Each
/// round takes the oldest groups (one per consumed message or handler scope); groups go out in
/// parallel, the messages of a group one after another in the order they were sent, each through
/// the event forwarding send policy (send timeout, bounded resends, same message id). A failed
/// message stops its group until the next round.
/// </summary>
sealed partial class OutboxDeliveryService<TDbContext> : BackgroundService
    where TDbContext : DbContext
{
    readonly IBusControl _bus;
    readonly ILogger _logger;
    readonly string _name = typeof(TDbContext).Name;
    readonly PatternsEntityFrameworkOutboxOptions _options;
    readonly Guid _owner = NewId.NextGuid();
    readonly EventForwardingSendPolicy _policy;
    readonly IServiceScopeFactory _scopes;
    readonly OutboxDeliverySignal<TDbContext> _signal;
    bool _holding;
    DateTime _leaseUntil;
    long _nextSample;
    readonly ForwardingMetrics _metrics;

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
    }

    /// <summary>The id this instance holds the lease under.</summary>
    public Guid Owner => _owner;

    /// <summary>Whether this instance held the delivery lease at its last attempt.</summary>
    public bool HoldsLease => _holding;

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
                round = new Round(0, false, true);
            }

            try
            {
                failures = round.Failed && round.Delivered == 0 ? failures + 1 : 0;
                if (failures > 0)
                    await Task.Delay(Backoff(failures), stoppingToken).ConfigureAwait(false);
                else if (!round.More)
                    await _signal.WaitAsync(_holding ? _options.DeliveryInterval : Min(_options.DeliveryInterval, _options.LeaseDuration / 3), stoppingToken)
                        .ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        await ReleaseLeaseAsync().ConfigureAwait(false);
    }

    TimeSpan Backoff(int failures) =>
        TimeSpan.FromTicks(Math.Min(_options.MaxDeliveryBackoff.Ticks, _options.DeliveryInterval.Ticks * (1L << Math.Min(failures - 1, 20))));

    static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    readonly record struct Round(int Delivered, bool More, bool Failed);

    async Task<Round> DeliverRoundAsync(CancellationToken cancellationToken)
    {
        await using var scope = _scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<TDbContext>();
        if (!await EnsureLeaseAsync(db, cancellationToken).ConfigureAwait(false))
            return new Round(0, false, false);

        await SampleBacklogAsync(db, cancellationToken).ConfigureAwait(false);

        var groupIds = await ForwardingQueries.PendingGroups(db, _options.DeliveryBatchSize).ToListAsync(cancellationToken).ConfigureAwait(false);
        if (groupIds.Count == 0)
            return new Round(0, false, false);

        var rows = await ForwardingQueries.GroupRows(db, groupIds, _options.DeliveryBatchSize * 10).ToListAsync(cancellationToken).ConfigureAwait(false);

        var order = groupIds.Select((id, index) => (id, index)).ToDictionary(x => x.id, x => x.index);
        var groups = rows.GroupBy(r => r.OutboxId).OrderBy(g => order[g.Key]).Select(g => g.OrderBy(r => r.Position).ToList()).ToList();

        var delivered = new ConcurrentBag<long>();
        var failed = 0;
        await Parallel.ForEachAsync(groups, new ParallelOptions { MaxDegreeOfParallelism = _options.DeliveryConcurrency, CancellationToken = cancellationToken },
            async (group, token) =>
            {
                foreach (var row in group)
                {
                    if (!await DeliverAsync(row, token).ConfigureAwait(false))
                    {
                        Interlocked.Increment(ref failed);
                        return;
                    }
                    delivered.Add(row.SequenceNumber);
                }
            }).ConfigureAwait(false);

        if (!delivered.IsEmpty)
        {
            await ForwardingQueries.DeleteDelivered(db, delivered.ToList(), cancellationToken).ConfigureAwait(false);
        }

        return new Round(delivered.Count, groupIds.Count == _options.DeliveryBatchSize || rows.Count == _options.DeliveryBatchSize * 10, failed > 0);
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
            _metrics.DeliveryFailures.Add(1, new KeyValuePair<string, object?>(ForwardingMetrics.DbContextTag, _name));
            LogDeliveryFailed(_logger, _name, row.SequenceNumber, row.MessageId, destination, exception.Message);
            return false;
        }

        var tag = new KeyValuePair<string, object?>(ForwardingMetrics.DbContextTag, _name);
        _metrics.Delivered.Add(1, tag);
        _metrics.DeliveryLag.Record(Math.Max(0, (DateTime.UtcNow - row.SentTime).TotalMilliseconds), tag);
        return true;
    }

    async Task SampleBacklogAsync(TDbContext db, CancellationToken cancellationToken)
    {
        var now = Stopwatch.GetTimestamp();
        if (now < Interlocked.Read(ref _nextSample))
            return;
        Interlocked.Exchange(ref _nextSample, now + (long)(_options.BacklogSampleInterval.TotalSeconds * Stopwatch.Frequency));
        var count = await db.Set<OutboxEntry>().LongCountAsync(cancellationToken).ConfigureAwait(false);
        var oldest = count == 0
            ? (DateTime?)null
            : await db.Set<OutboxEntry>().OrderBy(x => x.SequenceNumber).Select(x => (DateTime?)x.SentTime).FirstOrDefaultAsync(cancellationToken).ConfigureAwait(false);
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
