using MassTransit.Saga;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;

namespace MassTransit.Patterns.EntityFrameworkCore.Sagas;

/// <summary>
/// Creates the repository context for each message, over the message scope's
/// <typeparamref name="TDbContext"/> (the same instance the consumer's own code gets, so its writes
/// and the saga's commit together).
/// <para>
/// A message correlated by query may write several instances, one <c>SaveChanges</c> each: it runs in
/// one transaction (as every message does in MassTransit's own EF Core repository), so that a conflict
/// on any instance rolls back the others' writes too; otherwise the retry would apply the event to them
/// a second time. A message correlated by id writes its one instance with one <c>SaveChanges</c>, atomic
/// by itself: in optimistic mode it runs without a transaction of ours, which on SQLite would take the
/// database's only write lock for the whole message (<c>BEGIN IMMEDIATE</c>) and serialize every
/// event. Pessimistic mode runs every message in a transaction, which holds its row locks from load to
/// commit.
/// </para>
/// </summary>
sealed class PatternsEntityFrameworkSagaRepositoryContextFactory<TSaga, TDbContext> :
    ISagaRepositoryContextFactory<TSaga>,
    IQuerySagaRepositoryContextFactory<TSaga>,
    ILoadSagaRepositoryContextFactory<TSaga>
    where TSaga : class, ISaga
    where TDbContext : DbContext
{
    readonly TDbContext _db;
    readonly ISagaConsumeContextFactory<DbContext, TSaga> _consumeContextFactory;
    readonly SagaRowAccess<TSaga> _rows;

    /// <summary>Created per message scope by the container.</summary>
    public PatternsEntityFrameworkSagaRepositoryContextFactory(TDbContext db, ISagaConsumeContextFactory<DbContext, TSaga> consumeContextFactory,
        EntityFrameworkSagaRepositoryOptions<TSaga> options, SagaRepositoryMetrics metrics)
    {
        _db = db;
        _consumeContextFactory = consumeContextFactory;
        _rows = new SagaRowAccess<TSaga>(options.Value, metrics);
    }

    /// <inheritdoc />
    public void Probe(ProbeContext context)
    {
        context.Add("persistence", "entity-framework-core");
        context.Add("dbContext", typeof(TDbContext).Name);
        context.Add("concurrency", _rows.IsPessimistic ? "pessimistic" : "optimistic");
    }

    /// <inheritdoc />
    public Task Send<T>(ConsumeContext<T> context, IPipe<SagaRepositoryContext<TSaga, T>> next)
        where T : class =>
        Run(_rows.IsPessimistic, context.CancellationToken, async () =>
        {
            var repositoryContext = new DbContextSagaRepositoryContext<TSaga, T>(_db, context, _consumeContextFactory, _rows);
            await next.Send(repositoryContext).ConfigureAwait(false);
        });

    /// <inheritdoc />
    public Task SendQuery<T>(ConsumeContext<T> context, ISagaQuery<TSaga> query, IPipe<SagaRepositoryQueryContext<TSaga, T>> next)
        where T : class =>
        Run(true, context.CancellationToken, async () =>
        {
            // In correlation id order, so that two messages writing overlapping sets of instances take their
            // row locks in one order and never deadlock.
            List<TSaga> instances;
            if (_rows.IsPessimistic)
            {
                var ids = await _db.Set<TSaga>().AsNoTracking().Where(query.FilterExpression).OrderBy(x => x.CorrelationId).Select(x => x.CorrelationId)
                    .ToListAsync(context.CancellationToken).ConfigureAwait(false);
                instances = new List<TSaga>(ids.Count);
                foreach (var id in ids)
                    if (await _rows.Load(_db, id, context.CancellationToken).ConfigureAwait(false) is { } instance)
                        instances.Add(instance);
            }
            else
            {
                instances = await _db.Set<TSaga>().AsTracking().Where(query.FilterExpression).OrderBy(x => x.CorrelationId)
                    .ToListAsync(context.CancellationToken).ConfigureAwait(false);
            }

            var repositoryContext = new DbContextSagaRepositoryContext<TSaga, T>(_db, context, _consumeContextFactory, _rows);
            await next.Send(new LoadedSagaRepositoryQueryContext<TSaga, T>(repositoryContext, instances)).ConfigureAwait(false);
        });

    /// <inheritdoc />
    public Task<T> Execute<T>(Func<LoadSagaRepositoryContext<TSaga>, Task<T>> asyncMethod, CancellationToken cancellationToken = default)
        where T : class =>
        asyncMethod(new DbContextSagaReadContext<TSaga>(_db, cancellationToken));

    /// <inheritdoc />
    public Task<T> Execute<T>(Func<QuerySagaRepositoryContext<TSaga>, Task<T>> asyncMethod, CancellationToken cancellationToken = default)
        where T : class =>
        asyncMethod(new DbContextSagaReadContext<TSaga>(_db, cancellationToken));

    async Task Run(bool inTransaction, CancellationToken cancellationToken, Func<Task> work)
    {
        // A transaction the caller already opened (an outbox, the consumer's own) is used as it is.
        if (!inTransaction || _db.Database.CurrentTransaction is not null)
        {
            await work().ConfigureAwait(false);
            return;
        }

        var strategy = _db.Database.CreateExecutionStrategy();
        await strategy.ExecuteAsync(async ct =>
        {
            await using var transaction = await _db.Database.BeginTransactionAsync(_rows.TransactionIsolationLevel(_db), ct).ConfigureAwait(false);
            try
            {
                await work().ConfigureAwait(false);
                await transaction.CommitAsync(ct).ConfigureAwait(false);
            }
            catch
            {
                await transaction.RollbackQuietlyAsync().ConfigureAwait(false);
                // What this attempt tracked was rolled back: none of it may leak into a retry on this context.
                _db.ChangeTracker.Clear();
                throw;
            }
        }, cancellationToken).ConfigureAwait(false);
    }
}
