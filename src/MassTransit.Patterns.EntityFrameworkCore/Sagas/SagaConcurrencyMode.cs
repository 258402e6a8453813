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
