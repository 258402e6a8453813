namespace MassTransit.Patterns.EntityFrameworkCore.Sagas;

/// <summary>How concurrent events for one saga instance are kept from overwriting each other.</summary>
public enum SagaConcurrencyMode
{
    /// <summary>
    /// Load without locking; the update checks the concurrency token and a conflict throws
    /// <see cref="ConcurrencyException"/>, which <c>UseSagaConcurrencyRetry</c> retries. The default:
    /// it holds no lock while the state machine runs.
    /// </summary>
    Optimistic,

    /// <summary>
    /// Load with a row lock inside a transaction (<c>FOR UPDATE</c> on PostgreSQL,
    /// <c>UPDLOCK, ROWLOCK</c> on SQL Server; SQLite, which has no row locks, takes its database
    /// write lock at the start of the transaction). Events for one instance then wait for each other.
    /// </summary>
    Pessimistic
}

/// <summary>The column that detects a concurrent update of a saga row.</summary>
public enum SagaConcurrencyToken
{
    /// <summary>
    /// An integer column <c>Version</c> (the saga's own <see cref="ISagaVersion.Version"/>, or a
    /// shadow property) that the repository increments on each update. Works on every provider.
    /// </summary>
    Version,

    /// <summary>
    /// A SQL Server <c>rowversion</c> column (shadow property <c>RowVersion</c>) that the server
    /// maintains. SQL Server only; PostgreSQL and SQLite use <see cref="Version"/>.
    /// </summary>
    RowVersion
}
