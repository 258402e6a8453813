using MassTransit.Configuration;
using MassTransit.Patterns.Configuration;
using MassTransit.Patterns.Diagnostics;
using MassTransit.Saga;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace MassTransit.Patterns.EntityFrameworkCore.Sagas;

/// <summary>Configures the EF Core saga repository: which DbContext, and how concurrency is handled.</summary>
public sealed class PatternsEntityFrameworkSagaRepositoryConfigurator
{
    IDbContextRegistration? _dbContext;

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
    public PatternsEntityFrameworkSagaRepositoryConfigurator ExistingDbContext<TDbContext>()
        where TDbContext : DbContext
    {
        _dbContext = new DbContextRegistration<TDbContext>();
        return this;
    }

    /// <summary>Uses a row lock from load to commit instead of the optimistic token.</summary>
    public PatternsEntityFrameworkSagaRepositoryConfigurator UsePessimisticConcurrency()
    {
        Options.ConcurrencyMode = SagaConcurrencyMode.Pessimistic;
        return this;
    }

    internal void Register<TSaga>(IServiceCollection services)
        where TSaga : class, ISaga
    {
        var validator = Options.CreateValidator(nameof(EntityFrameworkSagaRepositoryOptions));
        validator.Require(_dbContext is not null, "DbContext", "must be set: call ExistingDbContext<TDbContext>().");
        validator.ThrowIfInvalid();

        services.TryAddSingleton(new EntityFrameworkSagaRepositoryOptions<TSaga>(Options));
        PatternsMeter.Register(services);
        services.TryAddSingleton<SagaRepositoryMetrics>();
        _dbContext!.Register<TSaga>(services);
    }

    /// <summary>The DbContext chosen by <see cref="ExistingDbContext{TDbContext}"/>, able to register the saga's context factory over it.</summary>
    interface IDbContextRegistration
    {
        void Register<TSaga>(IServiceCollection services)
            where TSaga : class, ISaga;
    }

    sealed class DbContextRegistration<TDbContext> : IDbContextRegistration
        where TDbContext : DbContext
    {
        // The same registrations MassTransit's own repositories make, with our context factory.
        public void Register<TSaga>(IServiceCollection services)
            where TSaga : class, ISaga
        {
            services.RegisterLoadSagaRepository<TSaga, PatternsEntityFrameworkSagaRepositoryContextFactory<TSaga, TDbContext>>();
            services.RegisterQuerySagaRepository<TSaga, PatternsEntityFrameworkSagaRepositoryContextFactory<TSaga, TDbContext>>();
            services.RegisterSagaRepository<TSaga, DbContext, SagaConsumeContextFactory<DbContext, TSaga>,
                PatternsEntityFrameworkSagaRepositoryContextFactory<TSaga, TDbContext>>();
        }
    }
}
