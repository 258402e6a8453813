using System.Data.Common;
using MassTransit.Middleware;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.Options;

namespace MassTransit.Patterns.EntityFrameworkCore.EventForwarding;

/// <summary>
/// Runs one consumed message through MassTransit's outbox pipe inside one transaction of the
/// scope's <typeparamref name="TDbContext"/> (the instance the consumer's own code gets): the inbox
/// row is inserted first, the consumer runs, its writes and the outbox rows of what it sent are
/// saved, and everything commits together before MassTransit acknowledges the message. When the
/// inbox row already exists (a redelivery after a crash between commit and acknowledgement, or a
/// producer's resend), the consumer does not run and the message is acknowledged.
/// </summary>
sealed class PatternsEntityFrameworkOutboxContextFactory<TDbContext> : IOutboxContextFactory<TDbContext>
    where TDbContext : DbContext
{
    readonly TDbContext _db;
    readonly IServiceProvider _provider;
    readonly PatternsEntityFrameworkOutboxOptions _options;
    readonly OutboxDeliverySignal<TDbContext> _signal;
    readonly ForwardingMetrics _metrics;

    /// <summary>Created per message scope by the container.</summary>
    public PatternsEntityFrameworkOutboxContextFactory(TDbContext db, IServiceProvider provider, IOptionsMonitor<PatternsEntityFrameworkOutboxOptions> options,
        OutboxDeliverySignal<TDbContext> signal, ForwardingMetrics metrics)
    {
        _metrics = metrics;
        _db = db;
        _provider = provider;
        _options = options.Get(EntityFrameworkCoreEventForwardingConfigurationExtensions.OptionsName<TDbContext>());
        _signal = signal;
    }

    /// <inheritdoc />
    public async Task Send<T>(ConsumeContext<T> context, OutboxConsumeOptions options, IPipe<OutboxConsumeContext<T>> next)
        where T : class
    {
        var messageId = context.GetOriginalMessageId() ?? throw new MessageException(typeof(T), "The inbox needs a message id.");
        var inbox = options is not ForwardingConsumeOptions { Inbox: false };

        if (options is ForwardingConsumeOptions { Batch: { } batch })
        {
            try
            {
                if (batch.Enter() && await SendInBatch(batch, context, options, next, messageId).ConfigureAwait(false))
                    return;
                // Alone (nothing else in flight or waiting) or its batch was split: its own transaction.
                await SendAlone(context, options, next, messageId, inbox).ConfigureAwait(false);
            }
            finally
            {
                batch.Leave();
            }
            return;
        }

        await SendAlone(context, options, next, messageId, inbox).ConfigureAwait(false);
    }

    /// <summary>Parks the message in the endpoint's batch; returns false when it has to run alone.</summary>
    async Task<bool> SendInBatch<T>(ForwardingBatchCollector batch, ConsumeContext<T> context, OutboxConsumeOptions options, IPipe<OutboxConsumeContext<T>> next,
        Guid messageId)
        where T : class
    {
        var outcome = await batch.JoinAsync(new ForwardingBatchMember<TDbContext, T>(context, options, next, _provider, _db, messageId)).ConfigureAwait(false);
        switch (outcome.Kind)
        {
            case ForwardingBatchOutcomeKind.Committed:
                return true;
            case ForwardingBatchOutcomeKind.Duplicate:
                await next.Send(new DbContextForwardingConsumeContext<TDbContext, T>(context, options, _provider, _db, messageId, consumed: true))
                    .ConfigureAwait(false);
                return true;
            case ForwardingBatchOutcomeKind.Failed:
                outcome.Error!.Throw();
                return true;
            default:
                return false;
        }
    }

    async Task SendAlone<T>(ConsumeContext<T> context, OutboxConsumeOptions options, IPipe<OutboxConsumeContext<T>> next, Guid messageId, bool inbox)
        where T : class
    {
        var strategy = _db.Database.CreateExecutionStrategy();
        var committed = await strategy.ExecuteAsync(ct => Attempt(context, options, next, messageId, inbox, ct), context.CancellationToken).ConfigureAwait(false);
        _signal.Handoff(committed);
    }

    /// <summary>Runs the message in one transaction; returns the outbox rows it committed (none for a suppressed copy).</summary>
    async Task<IReadOnlyList<OutboxEntry>> Attempt<T>(ConsumeContext<T> context, OutboxConsumeOptions options, IPipe<OutboxConsumeContext<T>> next, Guid messageId, bool inbox,
        CancellationToken cancellationToken)
        where T : class
    {
        // A retry of the execution strategy replays the whole message: nothing from the failed attempt may leak into it.
        _db.ChangeTracker.Clear();
        await using var transaction = await _db.Database.BeginTransactionAsync(_options.IsolationLevel, cancellationToken).ConfigureAwait(false);

        if (inbox && !await TryClaimAsync(messageId, options.ConsumerId, transaction, cancellationToken).ConfigureAwait(false))
        {
            // Counted once decided, before the pipe acknowledges the copy: whoever sees it consumed sees it counted.
            _metrics.DuplicateSuppressed(options.ConsumerType);
            var duplicate = new DbContextForwardingConsumeContext<TDbContext, T>(context, options, _provider, _db, messageId, consumed: true);
            await next.Send(duplicate).ConfigureAwait(false);
            return [];
        }

        var outboxContext = new DbContextForwardingConsumeContext<TDbContext, T>(context, options, _provider, _db, messageId, consumed: false);
        await next.Send(outboxContext).ConfigureAwait(false);
        if (!outboxContext.IsMessageConsumed)
            throw new InvalidOperationException("The outbox pipe completed without saving the consumer's work.");
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return outboxContext.Rows;
    }

    /// <summary>
    /// Inserts the inbox row inside the transaction. Returns false (transaction rolled back) when the
    /// message was already consumed. On PostgreSQL, SQLite and SQL Server the insert skips an existing
    /// row (0 rows affected) instead of failing on the key, so a suppressed copy - normal operation -
    /// makes EF Core log no failed command; a concurrent copy waits on the key until this transaction
    /// ends and then skips (or inserts, if it rolled back). Other providers look for the row first and
    /// insert plainly, so only copies arriving at the same moment fail on the key.
    /// </summary>
    async Task<bool> TryClaimAsync(Guid messageId, Guid consumerId, IDbContextTransaction transaction, CancellationToken cancellationToken)
    {
        var statement = InboxInsert.For(_db);
        try
        {
            if (!statement.SkipsDuplicate && await ConsumedAsync(messageId, consumerId, cancellationToken).ConfigureAwait(false))
            {
                await transaction.RollbackQuietlyAsync().ConfigureAwait(false);
                return false;
            }

            // One statement, without the change tracker: this runs for every consumed message.
            var inserted = await _db.Database.ExecuteSqlRawAsync(statement.Sql, [messageId, consumerId, DateTime.UtcNow], cancellationToken).ConfigureAwait(false);
            if (inserted > 0)
                return true;
            await transaction.RollbackQuietlyAsync().ConfigureAwait(false);
            return false;
        }
        catch (Exception exception) when (exception is DbException or DbUpdateException)
        {
            // A key violation of a plain insert, or a serialization failure under a stricter isolation level.
            await transaction.RollbackQuietlyAsync().ConfigureAwait(false);
            if (await ConsumedAsync(messageId, consumerId, cancellationToken).ConfigureAwait(false))
                return false;
            throw;
        }
    }

    Task<bool> ConsumedAsync(Guid messageId, Guid consumerId, CancellationToken cancellationToken) =>
        _db.Set<InboxEntry>().AsNoTracking().AnyAsync(x => x.MessageId == messageId && x.ConsumerId == consumerId, cancellationToken);

    /// <inheritdoc />
    public void Probe(ProbeContext context)
    {
        var scope = context.CreateScope("outboxContextFactory");
        scope.Add("provider", "MassTransit.Patterns.EntityFrameworkCore");
        scope.Add("dbContext", typeof(TDbContext).Name);
    }
}
