using System.Data;
using MassTransit.Patterns.Configuration;

namespace MassTransit.Patterns.EntityFrameworkCore.Sagas;

/// <summary>How the EF Core saga repository loads and saves instances.</summary>
public sealed class EntityFrameworkSagaRepositoryOptions : IPatternOptions
{
    /// <summary>Optimistic (default) or pessimistic concurrency.</summary>
    public SagaConcurrencyMode ConcurrencyMode { get; set; } = SagaConcurrencyMode.Optimistic;

    /// <summary>The isolation level of the transaction that holds a pessimistic lock. Default read committed.</summary>
    public IsolationLevel IsolationLevel { get; set; } = IsolationLevel.ReadCommitted;

    /// <inheritdoc />
    public void Validate(OptionsValidator validator) => validator
        .Require(Enum.IsDefined(ConcurrencyMode), nameof(ConcurrencyMode), $"must be Optimistic or Pessimistic (was {ConcurrencyMode}).")
        .Require(IsolationLevel is not (IsolationLevel.Unspecified or IsolationLevel.Chaos), nameof(IsolationLevel),
            $"must be a level the database can honour (was {IsolationLevel}).");
}
