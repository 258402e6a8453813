using MassTransit.Context;
using MassTransit.Middleware;
using MassTransit.Saga;
using Microsoft.EntityFrameworkCore;

namespace MassTransit.Patterns.EntityFrameworkCore.Sagas;

/// <summary>The repository context of one consumed message: loads, inserts, updates and deletes saga rows through the scope's DbContext.</summary>
sealed class DbContextSagaRepositoryContext<TSaga, TMessage> : ConsumeContextScope<TMessage>, SagaRepositoryContext<TSaga, TMessage>
    where TSaga : class, ISaga
    where TMessage : class
{
    readonly ConsumeContext<TMessage> _consumeContext;
    readonly DbContext _db;
    readonly ISagaConsumeContextFactory<DbContext, TSaga> _factory;
    readonly SagaRowAccess<TSaga> _rows;

    public DbContextSagaRepositoryContext(DbContext db, ConsumeContext<TMessage> consumeContext, ISagaConsumeContextFactory<DbContext, TSaga> factory,
        SagaRowAccess<TSaga> rows)
        : base(consumeContext, db)
    {
        _db = db;
        _consumeContext = consumeContext;
        _factory = factory;
        _rows = rows;
    }

    public Task<SagaConsumeContext<TSaga, TMessage>> Add(TSaga instance) =>
        _factory.CreateSagaConsumeContext(_db, _consumeContext, instance, SagaConsumeContextMode.Add);

    public async Task<SagaConsumeContext<TSaga, TMessage>> Insert(TSaga instance)
    {
        try
        {
            if (!await _rows.TryInsert(_db, instance, CancellationToken).ConfigureAwait(false))
            {
                // Another message inserted this instance first (we waited for it): the caller loads theirs.
                _rows.CountInsertRace();
                return null!;
            }
        }
        catch (DbUpdateException)
        {
            // A provider without the insert's lock: the other insert won on the key. Forget ours and let the caller load theirs.
            Detach(instance);
            _rows.CountInsertRace();
            return null!;
        }

        return await _factory.CreateSagaConsumeContext(_db, _consumeContext, instance, SagaConsumeContextMode.Insert).ConfigureAwait(false);
    }

    public async Task<SagaConsumeContext<TSaga, TMessage>> Load(Guid correlationId)
    {
        var instance = await _rows.Load(_db, correlationId, CancellationToken).ConfigureAwait(false);
        return instance is null
            ? null!
            : await _factory.CreateSagaConsumeContext(_db, _consumeContext, instance, SagaConsumeContextMode.Load).ConfigureAwait(false);
    }

    public async Task Save(SagaConsumeContext<TSaga> context)
    {
        bool inserted;
        try
        {
            inserted = await _rows.TryInsert(_db, context.Saga, CancellationToken).ConfigureAwait(false);
        }
        catch (DbUpdateException exception)
        {
            // A provider without the insert's lock fails on the key when another insert won.
            Detach(context.Saga);
            var exists = await _db.Set<TSaga>().AsNoTracking().AnyAsync(x => x.CorrelationId == context.Saga.CorrelationId, CancellationToken).ConfigureAwait(false);
            if (exists)
            {
                _db.ChangeTracker.Clear();
                throw _rows.Conflict(context.Saga.CorrelationId, "insert", exception);
            }
            throw;
        }

        if (!inserted)
        {
            // Another message inserted this instance first, and this one was applied to a new instance: the
            // retry replays it on the row that won. Nothing failed in the database, so nothing logged an error.
            _db.ChangeTracker.Clear();
            throw _rows.Conflict(context.Saga.CorrelationId, "insert", null);
        }
    }

    void Detach(TSaga instance)
    {
        var entry = _db.ChangeTracker.Entries<TSaga>().FirstOrDefault(x => ReferenceEquals(x.Entity, instance));
        if (entry is not null)
            entry.State = EntityState.Detached;
    }

    public async Task Update(SagaConsumeContext<TSaga> context)
    {
        SagaRowAccess<TSaga>.PrepareUpdate(_db, context.Saga);
        try
        {
            await _db.SaveChangesAsync(CancellationToken).ConfigureAwait(false);
        }
        catch (DbUpdateConcurrencyException exception)
        {
            // The retry replays the whole message: nothing tracked from this attempt may leak into it.
            _db.ChangeTracker.Clear();
            throw _rows.Conflict(context.Saga.CorrelationId, "update", exception);
        }
    }

    public async Task Delete(SagaConsumeContext<TSaga> context)
    {
        _db.Set<TSaga>().Remove(context.Saga);
        try
        {
            await _db.SaveChangesAsync(CancellationToken).ConfigureAwait(false);
        }
        catch (DbUpdateConcurrencyException exception)
        {
            _db.ChangeTracker.Clear();
            throw _rows.Conflict(context.Saga.CorrelationId, "delete", exception);
        }
    }

    public Task Discard(SagaConsumeContext<TSaga> context) => Task.CompletedTask;

    public Task Undo(SagaConsumeContext<TSaga> context)
    {
        var entry = _db.ChangeTracker.Entries<TSaga>().FirstOrDefault(x => x.Entity.CorrelationId == context.Saga.CorrelationId);
        if (entry is not null)
        {
            entry.CurrentValues.SetValues(entry.OriginalValues);
            entry.State = EntityState.Unchanged;
        }
        return Task.CompletedTask;
    }

    public Task<SagaConsumeContext<TSaga, T>> CreateSagaConsumeContext<T>(ConsumeContext<T> consumeContext, TSaga instance, SagaConsumeContextMode mode)
        where T : class =>
        _factory.CreateSagaConsumeContext(_db, consumeContext, instance, mode);
}
