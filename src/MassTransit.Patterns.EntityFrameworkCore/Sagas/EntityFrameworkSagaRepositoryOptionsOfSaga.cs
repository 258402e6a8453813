namespace MassTransit.Patterns.EntityFrameworkCore.Sagas;

/// <summary>The repository options of one saga type, as registered.</summary>
/// <param name="Value">The options.</param>
sealed record EntityFrameworkSagaRepositoryOptions<TSaga>(EntityFrameworkSagaRepositoryOptions Value)
    where TSaga : class, ISaga;
