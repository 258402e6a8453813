using System.Data.Common;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace MassTransit.Patterns.Testing;

/// <summary>
/// Counts what a DbContext sends to its database, for tests and benchmarks (add it with
/// <c>AddInterceptors</c>; thread-safe, one instance may serve every context of a run). A command is
/// counted when EF Core is about to execute it (reader, non-query or scalar, sync or async), so a
/// failed command counts too; one EF Core batch of statements is one command. Transaction
/// operations that are round trips: commit, rollback, roll back to a savepoint, release a savepoint.
/// <c>BEGIN</c> and <c>SAVEPOINT</c> are not round trips with Npgsql (it writes them ahead of the next
/// command: <c>NpgsqlTransaction</c> prepends them), so they are counted apart in
/// <see cref="TransactionsStarted" /> and <see cref="SavepointsCreated" />. Commits are committed transactions plus writing
/// commands (INSERT, UPDATE, DELETE, MERGE) executed outside a transaction (autocommit): each is a
/// durable commit on the server. Linked into the projects that reference EF Core relational.
/// </summary>
public sealed class DbRoundTripCounter : DbCommandInterceptor, IDbTransactionInterceptor
{
    long _commands;
    long _autocommitWrites;
    long _transactionsStarted;
    long _commits;
    long _rollbacks;
    long _savepointsCreated;
    long _savepointsRolledBack;
    long _savepointsReleased;
    long _transactionFailures;

    /// <summary>Commands executed (each one round trip).</summary>
    public long Commands => Interlocked.Read(ref _commands);

    /// <summary>Committed transactions plus autocommitted writing commands.</summary>
    public long Commits => Interlocked.Read(ref _commits) + Interlocked.Read(ref _autocommitWrites);

    /// <summary>Writing commands executed outside a transaction (included in <see cref="Commits" />).</summary>
    public long AutocommitWrites => Interlocked.Read(ref _autocommitWrites);

    /// <summary>Transactions begun (not round trips of their own with Npgsql; see the class summary).</summary>
    public long TransactionsStarted => Interlocked.Read(ref _transactionsStarted);

    /// <summary>Rollbacks of whole transactions.</summary>
    public long Rollbacks => Interlocked.Read(ref _rollbacks);

    /// <summary>Savepoint operations: created, rolled back to, released.</summary>
    public long SavepointOps =>
        Interlocked.Read(ref _savepointsCreated) + Interlocked.Read(ref _savepointsRolledBack) + Interlocked.Read(ref _savepointsReleased);

    /// <summary>Savepoints created (EF Core's automatic <c>__EFSavePoint</c> included).</summary>
    public long SavepointsCreated => Interlocked.Read(ref _savepointsCreated);

    /// <summary>Transaction operations (commit, rollback, savepoint) that failed: each was a round trip all the same.</summary>
    public long TransactionFailures => Interlocked.Read(ref _transactionFailures);

    /// <summary>
    /// Transaction operations that are round trips: commit, rollback, roll back to and release a savepoint,
    /// and failed ones (not <c>BEGIN</c> or <c>SAVEPOINT</c>, sent with the next command).
    /// </summary>
    public long TransactionOps =>
        Interlocked.Read(ref _commits) + Rollbacks + Interlocked.Read(ref _savepointsRolledBack) + Interlocked.Read(ref _savepointsReleased) + TransactionFailures;

    /// <summary>Round trips: commands plus transaction operations.</summary>
    public long RoundTrips => Commands + TransactionOps;

    /// <summary>Starts counting from zero.</summary>
    public void Reset()
    {
        Interlocked.Exchange(ref _commands, 0);
        Interlocked.Exchange(ref _autocommitWrites, 0);
        Interlocked.Exchange(ref _transactionsStarted, 0);
        Interlocked.Exchange(ref _commits, 0);
        Interlocked.Exchange(ref _rollbacks, 0);
        Interlocked.Exchange(ref _savepointsCreated, 0);
        Interlocked.Exchange(ref _savepointsRolledBack, 0);
        Interlocked.Exchange(ref _savepointsReleased, 0);
        Interlocked.Exchange(ref _transactionFailures, 0);
    }

    /// <inheritdoc />
    public override InterceptionResult<DbDataReader> ReaderExecuting(DbCommand command, CommandEventData eventData, InterceptionResult<DbDataReader> result)
    {
        Count(command);
        return result;
    }

    /// <inheritdoc />
    public override ValueTask<InterceptionResult<DbDataReader>> ReaderExecutingAsync(DbCommand command, CommandEventData eventData,
        InterceptionResult<DbDataReader> result, CancellationToken cancellationToken = default)
    {
        Count(command);
        return ValueTask.FromResult(result);
    }

    /// <inheritdoc />
    public override InterceptionResult<int> NonQueryExecuting(DbCommand command, CommandEventData eventData, InterceptionResult<int> result)
    {
        Count(command);
        return result;
    }

    /// <inheritdoc />
    public override ValueTask<InterceptionResult<int>> NonQueryExecutingAsync(DbCommand command, CommandEventData eventData,
        InterceptionResult<int> result, CancellationToken cancellationToken = default)
    {
        Count(command);
        return ValueTask.FromResult(result);
    }

    /// <inheritdoc />
    public override InterceptionResult<object> ScalarExecuting(DbCommand command, CommandEventData eventData, InterceptionResult<object> result)
    {
        Count(command);
        return result;
    }

    /// <inheritdoc />
    public override ValueTask<InterceptionResult<object>> ScalarExecutingAsync(DbCommand command, CommandEventData eventData,
        InterceptionResult<object> result, CancellationToken cancellationToken = default)
    {
        Count(command);
        return ValueTask.FromResult(result);
    }

    void Count(DbCommand command)
    {
        Interlocked.Increment(ref _commands);
        if (command.Transaction is null && Writes(command.CommandText))
            Interlocked.Increment(ref _autocommitWrites);
    }

    static bool Writes(string sql)
    {
        var text = sql.AsSpan().TrimStart();
        // EF Core may open with a comment (tags) or a CTE; writes it emits start with the verb.
        while (text.StartsWith("--", StringComparison.Ordinal))
        {
            var end = text.IndexOf('\n');
            text = end < 0 ? [] : text[(end + 1)..].TrimStart();
        }
        return text.StartsWith("INSERT", StringComparison.OrdinalIgnoreCase) || text.StartsWith("UPDATE", StringComparison.OrdinalIgnoreCase)
            || text.StartsWith("DELETE", StringComparison.OrdinalIgnoreCase) || text.StartsWith("MERGE", StringComparison.OrdinalIgnoreCase);
    }

    DbTransaction IDbTransactionInterceptor.TransactionStarted(DbConnection connection, TransactionEndEventData eventData, DbTransaction result)
    {
        Interlocked.Increment(ref _transactionsStarted);
        return result;
    }

    ValueTask<DbTransaction> IDbTransactionInterceptor.TransactionStartedAsync(DbConnection connection, TransactionEndEventData eventData,
        DbTransaction result, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _transactionsStarted);
        return ValueTask.FromResult(result);
    }

    void IDbTransactionInterceptor.TransactionCommitted(DbTransaction transaction, TransactionEndEventData eventData) =>
        Interlocked.Increment(ref _commits);

    Task IDbTransactionInterceptor.TransactionCommittedAsync(DbTransaction transaction, TransactionEndEventData eventData, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _commits);
        return Task.CompletedTask;
    }

    void IDbTransactionInterceptor.TransactionRolledBack(DbTransaction transaction, TransactionEndEventData eventData) =>
        Interlocked.Increment(ref _rollbacks);

    Task IDbTransactionInterceptor.TransactionRolledBackAsync(DbTransaction transaction, TransactionEndEventData eventData, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _rollbacks);
        return Task.CompletedTask;
    }

    void IDbTransactionInterceptor.CreatedSavepoint(DbTransaction transaction, TransactionEventData eventData) =>
        Interlocked.Increment(ref _savepointsCreated);

    Task IDbTransactionInterceptor.CreatedSavepointAsync(DbTransaction transaction, TransactionEventData eventData, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _savepointsCreated);
        return Task.CompletedTask;
    }

    void IDbTransactionInterceptor.RolledBackToSavepoint(DbTransaction transaction, TransactionEventData eventData) =>
        Interlocked.Increment(ref _savepointsRolledBack);

    Task IDbTransactionInterceptor.RolledBackToSavepointAsync(DbTransaction transaction, TransactionEventData eventData, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _savepointsRolledBack);
        return Task.CompletedTask;
    }

    void IDbTransactionInterceptor.ReleasedSavepoint(DbTransaction transaction, TransactionEventData eventData) =>
        Interlocked.Increment(ref _savepointsReleased);

    Task IDbTransactionInterceptor.ReleasedSavepointAsync(DbTransaction transaction, TransactionEventData eventData, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _savepointsReleased);
        return Task.CompletedTask;
    }

    void IDbTransactionInterceptor.TransactionFailed(DbTransaction transaction, TransactionErrorEventData eventData) =>
        Interlocked.Increment(ref _transactionFailures);

    Task IDbTransactionInterceptor.TransactionFailedAsync(DbTransaction transaction, TransactionErrorEventData eventData, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _transactionFailures);
        return Task.CompletedTask;
    }
}
