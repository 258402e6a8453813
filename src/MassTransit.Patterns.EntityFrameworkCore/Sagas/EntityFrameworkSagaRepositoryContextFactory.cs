using MassTransit.Saga;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;

namespace MassTransit.Patterns.EntityFrameworkCore.Sagas;

/// <summary>
/// Creates the repository context for each message, over the message scope's
/// <typeparamref name="TDbContext"/> (the same instance the consumer's own code gets, so its writes
/// and the saga's commit together). Optimistic mode needs no explicit transaction: the update is one
/// atomic statement checked by the concurrency token. Pessimistic mode holds its row lock in a
/// transaction from load to commit.
/// </summary>
public sealed class EntityFrameworkSagaRepositoryContextFactory<TSaga, TDbContext> :
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
    public EntityFrameworkSagaRepositoryContextFactory(TDbContext db, ISagaConsumeContextFactory<DbContext, TSaga> consumeContextFactory,
        EntityFrameworkSagaRepositoryOptions<TSaga> options)
    {
        _db = db;
        _consumeContextFactory = consumeContextFactory;
        _rows = new SagaRowAccess<TSaga>(options.Value);
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
        Run(context.CancellationToken, async () =>
        {
            var repositoryContext = new DbContextSagaRepositoryContext<TSaga, T>(_db, context, _consumeContextFactory, _rows);
            await next.Send(repositoryContext).ConfigureAwait(false);
        });

    /// <inheritdoc />
    public Task SendQuery<T>(ConsumeContext<T> context, ISagaQuery<TSaga> query, IPipe<SagaRepositoryQueryContext<TSaga, T>> next)
        where T : class =>
        Run(context.CancellationToken, async () =>
        {
            var ids = await _db.Set<TSaga>().AsNoTracking().Where(query.FilterExpression).Select(x => x.CorrelationId)
                .ToListAsync(context.CancellationToken).ConfigureAwait(false);
            var instances = new List<TSaga>(ids.Count);
            foreach (var id in ids)
                if (await _rows.Load(_db, id, context.CancellationToken).ConfigureAwait(false) is { } instance)
                    instances.Add(instance);

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

    async Task Run(CancellationToken cancellationToken, Func<Task> work)
    {
        // A transaction the caller already opened (an outbox, the consumer's own) is used as it is.
        if (!_rows.IsPessimistic || _db.Database.CurrentTransaction is not null)
        {
            await work().ConfigureAwait(false);
            return;
        }

        var strategy = _db.Database.CreateExecutionStrategy();
        await strategy.ExecuteAsync(async ct =>
        {
            await using var transaction = await _db.Database.BeginTransactionAsync(_rows.IsolationLevel, ct).ConfigureAwait(false);
            try
            {
                await work().ConfigureAwait(false);
                await transaction.CommitAsync(ct).ConfigureAwait(false);
            }
            catch
            {
                await RollbackQuietly(transaction).ConfigureAwait(false);
                throw;
            }
        }, cancellationToken).ConfigureAwait(false);
    }

    static async Task RollbackQuietly(IDbContextTransaction transaction)
    {
        try
        {
            await transaction.RollbackAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // The original failure matters; a failed rollback only means the connection is gone.
        }
    }
}

/// <summary>The repository options of one saga type, as registered.</summary>
/// <param name="Value">The options.</param>
public sealed record EntityFrameworkSagaRepositoryOptions<TSaga>(EntityFrameworkSagaRepositoryOptions Value)
    where TSaga : class, ISaga;
