using MassTransit.Configuration;
using MassTransit.Patterns.Configuration;
using MassTransit.Saga;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace MassTransit.Patterns.EntityFrameworkCore.Sagas;

/// <summary>Configures the EF Core saga repository: which DbContext, and how concurrency is handled.</summary>
public sealed class EntityFrameworkSagaRepositoryConfigurator
{
    Type? _dbContextType;

    /// <summary>The repository's options.</summary>
    public EntityFrameworkSagaRepositoryOptions Options { get; } = new();

    /// <summary>Optimistic (default) or pessimistic concurrency.</summary>
    public SagaConcurrencyMode ConcurrencyMode
    {
        get => Options.ConcurrencyMode;
        set => Options.ConcurrencyMode = value;
    }

    /// <summary>
    /// The isolation level of the repository's transaction; see <see cref="EntityFrameworkSagaRepositoryOptions.IsolationLevel"/>
    /// (read committed by default, and required by optimistic concurrency).
    /// </summary>
    public System.Data.IsolationLevel IsolationLevel
    {
        get => Options.IsolationLevel;
        set => Options.IsolationLevel = value;
    }

    /// <summary>
    /// Uses the application's own <typeparamref name="TDbContext"/>, registered with
    /// <c>services.AddDbContext&lt;TDbContext&gt;(...)</c>; map the saga in it with
    /// <see cref="SagaModelBuilderExtensions.AddSagaInstance{TSaga}"/>.
    /// </summary>
    public EntityFrameworkSagaRepositoryConfigurator ExistingDbContext<TDbContext>()
        where TDbContext : DbContext
    {
        _dbContextType = typeof(TDbContext);
        return this;
    }

    /// <summary>Uses a row lock from load to commit instead of the optimistic token.</summary>
    public EntityFrameworkSagaRepositoryConfigurator UsePessimisticConcurrency()
    {
        Options.ConcurrencyMode = SagaConcurrencyMode.Pessimistic;
        return this;
    }

    internal void Register<TSaga>(IServiceCollection services)
        where TSaga : class, ISaga
    {
        var validator = Options.CreateValidator(nameof(EntityFrameworkSagaRepositoryOptions));
        validator.Require(_dbContextType is not null, "DbContext", "must be set: call ExistingDbContext<TDbContext>().");
        validator.ThrowIfInvalid();

        var factoryType = typeof(EntityFrameworkSagaRepositoryContextFactory<,>).MakeGenericType(typeof(TSaga), _dbContextType!);
        services.TryAddSingleton(new EntityFrameworkSagaRepositoryOptions<TSaga>(Options));

        // The same registrations MassTransit's own repositories make, with our context factory.
        typeof(EntityFrameworkSagaRepositoryConfigurator).GetMethod(nameof(RegisterFactory), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!
            .MakeGenericMethod(typeof(TSaga), factoryType)
            .Invoke(null, [services]);
    }

    static void RegisterFactory<TSaga, TFactory>(IServiceCollection services)
        where TSaga : class, ISaga
        where TFactory : class, ISagaRepositoryContextFactory<TSaga>, IQuerySagaRepositoryContextFactory<TSaga>, ILoadSagaRepositoryContextFactory<TSaga>
    {
        services.RegisterLoadSagaRepository<TSaga, TFactory>();
        services.RegisterQuerySagaRepository<TSaga, TFactory>();
        services.RegisterSagaRepository<TSaga, DbContext, SagaConsumeContextFactory<DbContext, TSaga>, TFactory>();
    }
}

/// <summary>Registers the EF Core saga repository, MassTransit-style.</summary>
public static class EntityFrameworkSagaRepositoryRegistrationExtensions
{
    /// <summary>
    /// Stores this saga's instances through the application's DbContext:
    /// <c>x.AddSagaStateMachine&lt;M, S&gt;().PatternsEntityFrameworkRepository(r =&gt; r.ExistingDbContext&lt;AppDb&gt;())</c>.
    /// Add <c>UseSagaConcurrencyRetry()</c> on the saga's endpoint so that conflicts are retried.
    /// </summary>
    public static ISagaRegistrationConfigurator<TSaga> PatternsEntityFrameworkRepository<TSaga>(this ISagaRegistrationConfigurator<TSaga> configurator,
        Action<EntityFrameworkSagaRepositoryConfigurator> configure)
        where TSaga : class, ISaga
    {
        var repository = new EntityFrameworkSagaRepositoryConfigurator();
        configure(repository);
        configurator.Repository(x => repository.Register<TSaga>(x));
        return configurator;
    }

    /// <summary>Makes the EF Core repository the default for every saga registered without a repository of its own.</summary>
    public static void SetPatternsEntityFrameworkSagaRepositoryProvider(this IRegistrationConfigurator configurator,
        Action<EntityFrameworkSagaRepositoryConfigurator> configure)
    {
        configurator.SetSagaRepositoryProvider(new EntityFrameworkSagaRepositoryRegistrationProvider(configure));
    }

    sealed class EntityFrameworkSagaRepositoryRegistrationProvider(Action<EntityFrameworkSagaRepositoryConfigurator> configure) : ISagaRepositoryRegistrationProvider
    {
        public void Configure<TSaga>(ISagaRegistrationConfigurator<TSaga> configurator)
            where TSaga : class, ISaga =>
            configurator.PatternsEntityFrameworkRepository(configure);
    }
}
