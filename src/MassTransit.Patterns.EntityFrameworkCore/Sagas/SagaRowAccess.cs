using System.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.ChangeTracking;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.EntityFrameworkCore.Storage;

namespace MassTransit.Patterns.EntityFrameworkCore.Sagas;

/// <summary>
/// Loads and writes one saga type's rows: the provider-specific locking read, the version bump, and
/// the translation of write conflicts into <see cref="ConcurrencyException"/> (counted on the meter).
/// </summary>
sealed class SagaRowAccess<TSaga>
    where TSaga : class, ISaga
{
    readonly EntityFrameworkSagaRepositoryOptions _options;
    readonly SagaRepositoryMetrics? _metrics;

    /// <summary>Row access with <paramref name="options"/>; conflicts are counted on <paramref name="metrics"/> when given.</summary>
    public SagaRowAccess(EntityFrameworkSagaRepositoryOptions options, SagaRepositoryMetrics? metrics = null)
    {
        _options = options;
        _metrics = metrics;
    }

    public bool IsPessimistic => _options.ConcurrencyMode == SagaConcurrencyMode.Pessimistic;

    /// <summary>
    /// The isolation level the repository's transaction begins with: the option's, except on SQLite, whose
    /// transactions are all serializable and which begins a serializable one <c>IMMEDIATE</c>, taking the
    /// database's write lock at once (the lock pessimistic mode relies on; a lower level would begin a
    /// deferred transaction that takes no lock until its first write).
    /// </summary>
    public IsolationLevel TransactionIsolationLevel(DbContext db) =>
        IsSqlite(db) ? IsolationLevel.Serializable : _options.IsolationLevel;

    static bool IsSqlite(DbContext db) => (db.Database.ProviderName ?? "").Contains("Sqlite", StringComparison.OrdinalIgnoreCase);

    public Task<TSaga?> Load(DbContext db, Guid correlationId, CancellationToken cancellationToken)
    {
        if (!IsPessimistic)
            return db.Set<TSaga>().AsTracking().SingleOrDefaultAsync(x => x.CorrelationId == correlationId, cancellationToken);

        return db.Set<TSaga>().FromSqlRaw(LockingSelect(db), correlationId).AsTracking().SingleOrDefaultAsync(cancellationToken);
    }

    /// <summary>Marks a new instance's version before its first insert.</summary>
    public static void PrepareInsert(DbContext db, TSaga instance)
    {
        var entry = db.Entry(instance);
        if (ManagedVersion(entry) is { } version)
            version.CurrentValue = 1;
    }

    /// <summary>Bumps the version of an updated instance so that a concurrent update of the same version fails.</summary>
    public static void PrepareUpdate(DbContext db, TSaga instance)
    {
        var entry = db.Entry(instance);
        if (entry.State == EntityState.Unchanged)
            entry.State = EntityState.Modified;
        if (ManagedVersion(entry) is { } version)
            version.CurrentValue = (int)(version.OriginalValue ?? 0) + 1;
    }

    static PropertyEntry? ManagedVersion(EntityEntry<TSaga> entry) =>
        entry.Metadata.GetSagaConcurrencyToken() is SagaConcurrencyToken.Version
            ? entry.Property(SagaModelBuilderExtensions.VersionProperty)
            : null;

    public ConcurrencyException Conflict(Guid correlationId, string what, Exception inner)
    {
        _metrics?.Conflict(typeof(TSaga), what);
        return new ConcurrencyException($"Saga {typeof(TSaga).Name} {correlationId} was changed concurrently ({what}); the message will be retried.",
            typeof(TSaga), correlationId, inner);
    }

    /// <summary>Counts an insert race that the repository resolved in place (the other insert won; this one loads it).</summary>
    public void CountInsertRace() => _metrics?.Conflict(typeof(TSaga), "insert");

    internal string LockingSelect(DbContext db)
    {
        var entityType = db.Model.FindEntityType(typeof(TSaga))
            ?? throw new ConfigurationException($"{typeof(TSaga).Name} is not part of {db.GetType().Name}'s model: map it with modelBuilder.AddSagaInstance<{typeof(TSaga).Name}>().");
        var sql = db.GetService<ISqlGenerationHelper>();
        var table = entityType.GetTableName()!;
        var schema = entityType.GetSchema();
        var store = StoreObjectIdentifier.Table(table, schema);
        var key = entityType.FindProperty(nameof(ISaga.CorrelationId))!.GetColumnName(store)!;
        var from = sql.DelimitIdentifier(table, schema);
        var where = $"{sql.DelimitIdentifier(key)} = {{0}}";
        var provider = db.Database.ProviderName ?? "";

        if (provider.Contains("SqlServer", StringComparison.OrdinalIgnoreCase))
            return $"SELECT * FROM {from} WITH (UPDLOCK, ROWLOCK) WHERE {where}";
        if (provider.Contains("Npgsql", StringComparison.OrdinalIgnoreCase) || provider.Contains("MySql", StringComparison.OrdinalIgnoreCase))
            return $"SELECT * FROM {from} WHERE {where} FOR UPDATE";
        if (IsSqlite(db))
            return $"SELECT * FROM {from} WHERE {where}"; // the transaction began IMMEDIATE: SQLite's write lock is the lock
        throw new ConfigurationException($"Pessimistic saga concurrency is not supported on {provider}: use SagaConcurrencyMode.Optimistic.");
    }
}
