using System.Data;
using MassTransit.Patterns.Configuration;

namespace MassTransit.Patterns.EntityFrameworkCore.Sagas;

/// <summary>How the EF Core saga repository loads and saves instances.</summary>
public sealed class EntityFrameworkSagaRepositoryOptions : IPatternOptions
{
    /// <summary>Optimistic (default) or pessimistic concurrency.</summary>
    public SagaConcurrencyMode ConcurrencyMode { get; set; } = SagaConcurrencyMode.Optimistic;

    /// <summary>
    /// The isolation level of the repository's transaction: around every message in pessimistic mode,
    /// around a message correlated by query (which may write several instances) in optimistic mode. A
    /// transaction the consume already has, such as the EF Core outbox's, is used as it is. Default read
    /// committed, which optimistic mode requires: the version token detects a conflict, and a stricter
    /// level would turn conflicts into serialization failures and deadlocks, which are not retried as
    /// conflicts. Pessimistic mode takes any level. SQLite ignores it: its transactions are serializable,
    /// and the repository begins them <c>IMMEDIATE</c>.
    /// </summary>
    public IsolationLevel IsolationLevel { get; set; } = IsolationLevel.ReadCommitted;

    /// <inheritdoc />
    public void Validate(OptionsValidator validator) => validator
        .Require(Enum.IsDefined(ConcurrencyMode), nameof(ConcurrencyMode), $"must be Optimistic or Pessimistic (was {ConcurrencyMode}).")
        .Require(IsolationLevel is not (IsolationLevel.Unspecified or IsolationLevel.Chaos) && Enum.IsDefined(IsolationLevel), nameof(IsolationLevel),
            $"must be a level the database can honour (was {IsolationLevel}).")
        .Require(ConcurrencyMode != SagaConcurrencyMode.Optimistic || IsolationLevel is IsolationLevel.ReadCommitted, nameof(IsolationLevel),
            $"must be ReadCommitted with optimistic concurrency (was {IsolationLevel}): the version token detects conflicts; a stricter level " +
            "turns them into serialization failures and deadlocks that are not retried. Use pessimistic concurrency for another level.");
}
