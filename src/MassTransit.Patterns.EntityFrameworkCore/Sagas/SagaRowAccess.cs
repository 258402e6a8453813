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

    /// <summary>
    /// Inserts <paramref name="instance"/> as a new row unless its correlation id has a row already;
    /// false when it has (nothing written, the instance detached). Concurrent first messages of one
    /// instance each try to insert it; a plain insert would make every loser fail on the key, and EF Core
    /// logs every failed command at Error level, though losing this race is normal operation. So the
    /// insert first takes a lock on the new row's key and looks for the row: PostgreSQL's transaction
    /// advisory lock on a key made of the table and the correlation id, SQL Server's key-range lock
    /// (UPDLOCK, HOLDLOCK) of the look-up itself, SQLite's write lock (its transaction begins
    /// <c>IMMEDIATE</c>). A loser waits for the winner's transaction, then finds its row. The lock lasts
    /// until the transaction ends: the repository's or the consume's when there is one, else one of its
    /// own around the look-up and the insert. A provider without such a lock inserts plainly, and a lost
    /// race fails on the key (<see cref="DbUpdateException"/>) as before.
    /// </summary>
    public async Task<bool> TryInsert(DbContext db, TSaga instance, CancellationToken cancellationToken)
    {
        var provider = ProviderOf(db);
        if (provider == Provider.Other || db.Database.CurrentTransaction is not null)
            return await InsertUnlessExists(db, instance, provider, true, cancellationToken).ConfigureAwait(false);

        var strategy = db.Database.CreateExecutionStrategy();
        var inserted = await strategy.ExecuteAsync(async ct =>
        {
            await using var transaction = await db.Database.BeginTransactionAsync(TransactionIsolationLevel(db), ct).ConfigureAwait(false);
            try
            {
                // Changes are accepted once committed, so that a retried attempt of the strategy writes them again.
                var result = await InsertUnlessExists(db, instance, provider, false, ct).ConfigureAwait(false);
                await transaction.CommitAsync(ct).ConfigureAwait(false);
                return result;
            }
            catch
            {
                await transaction.RollbackQuietlyAsync().ConfigureAwait(false);
                throw;
            }
        }, cancellationToken).ConfigureAwait(false);
        if (inserted)
            db.ChangeTracker.AcceptAllChanges();
        return inserted;
    }

    async Task<bool> InsertUnlessExists(DbContext db, TSaga instance, Provider provider, bool acceptChanges, CancellationToken cancellationToken)
    {
        var id = instance.CorrelationId;
        if (provider == Provider.PostgreSql)
            await db.Database.ExecuteSqlRawAsync("SELECT pg_advisory_xact_lock({0})", [NewRowLockKey(db, id)], cancellationToken).ConfigureAwait(false);

        if (provider != Provider.Other && await NewRowLookup(db, id).AnyAsync(cancellationToken).ConfigureAwait(false))
        {
            var existing = db.ChangeTracker.Entries<TSaga>().FirstOrDefault(x => ReferenceEquals(x.Entity, instance));
            if (existing is not null)
                existing.State = EntityState.Detached;
            return false;
        }

        db.Set<TSaga>().Add(instance);
        PrepareInsert(db, instance);
        await db.SaveChangesAsync(acceptChanges, cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <summary>The look-up of a new instance's row before its insert; on SQL Server it takes the key-range lock concurrent inserts wait on.</summary>
    internal IQueryable<TSaga> NewRowLookup(DbContext db, Guid correlationId)
    {
        if (ProviderOf(db) != Provider.SqlServer)
            return db.Set<TSaga>().AsNoTracking().Where(x => x.CorrelationId == correlationId);

        var (from, key) = TableAndKey(db);
        // Identifiers from the model, quoted by the provider; the id is a parameter.
        var lookup = $"SELECT * FROM {from} WITH (UPDLOCK, HOLDLOCK) WHERE {key} = {{0}}";
        return db.Set<TSaga>().FromSqlRaw(lookup, correlationId).AsNoTracking();
    }

    /// <summary>
    /// PostgreSQL's advisory lock key of a new row: the correlation id's two halves and the table's
    /// name, folded into 64 bits. Two keys that collide only make one insert wait for the other.
    /// </summary>
    internal static long NewRowLockKey(DbContext db, Guid correlationId)
    {
        var (from, _) = TableAndKey(db);
        Span<byte> bytes = stackalloc byte[16];
        correlationId.TryWriteBytes(bytes);
        // FNV-1a of the quoted table name: stable across processes, unlike string.GetHashCode.
        var table = 14695981039346656037UL;
        foreach (var c in from)
            table = (table ^ c) * 1099511628211UL;
        return System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(bytes) ^ System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(bytes[8..])
            ^ unchecked((long)table);
    }

    enum Provider
    {
        PostgreSql,
        Sqlite,
        SqlServer,
        Other
    }

    static Provider ProviderOf(DbContext db)
    {
        var provider = db.Database.ProviderName ?? "";
        if (provider.Contains("Npgsql", StringComparison.OrdinalIgnoreCase))
            return Provider.PostgreSql;
        if (provider.Contains("SqlServer", StringComparison.OrdinalIgnoreCase))
            return Provider.SqlServer;
        return IsSqlite(db) ? Provider.Sqlite : Provider.Other;
    }

    static (string From, string Key) TableAndKey(DbContext db)
    {
        var entityType = db.Model.FindEntityType(typeof(TSaga))
            ?? throw new ConfigurationException($"{typeof(TSaga).Name} is not part of {db.GetType().Name}'s model: map it with modelBuilder.AddSagaInstance<{typeof(TSaga).Name}>().");
        var sql = db.GetService<ISqlGenerationHelper>();
        var table = entityType.GetTableName()!;
        var schema = entityType.GetSchema();
        var key = entityType.FindProperty(nameof(ISaga.CorrelationId))!.GetColumnName(StoreObjectIdentifier.Table(table, schema))!;
        return (sql.DelimitIdentifier(table, schema), sql.DelimitIdentifier(key));
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

    public ConcurrencyException Conflict(Guid correlationId, string what, Exception? inner)
    {
        _metrics?.Conflict(typeof(TSaga), what);
        var message = $"Saga {typeof(TSaga).Name} {correlationId} was changed concurrently ({what}); the message will be retried.";
        return inner is null
            ? new ConcurrencyException(message, typeof(TSaga), correlationId)
            : new ConcurrencyException(message, typeof(TSaga), correlationId, inner);
    }

    /// <summary>Counts an insert race that the repository resolved in place (the other insert won; this one loads it).</summary>
    public void CountInsertRace() => _metrics?.Conflict(typeof(TSaga), "insert");

    internal string LockingSelect(DbContext db)
    {
        var (from, key) = TableAndKey(db);
        var where = $"{key} = {{0}}";
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
