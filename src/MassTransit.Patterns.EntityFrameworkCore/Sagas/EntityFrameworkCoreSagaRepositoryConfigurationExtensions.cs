using MassTransit.Configuration;
using MassTransit.Patterns.EntityFrameworkCore.Sagas;

namespace MassTransit;

/// <summary>Registers the EF Core saga repository, MassTransit-style.</summary>
public static class EntityFrameworkCoreSagaRepositoryConfigurationExtensions
{
    /// <summary>
    /// Stores this saga's instances through the application's DbContext:
    /// <c>x.AddSagaStateMachine&lt;M, S&gt;().PatternsEntityFrameworkRepository(r =&gt; r.ExistingDbContext&lt;AppDb&gt;())</c>.
    /// Add <c>UseSagaConcurrencyRetry()</c> on the saga's endpoint so that conflicts are retried.
    /// </summary>
    public static ISagaRegistrationConfigurator<TSaga> PatternsEntityFrameworkRepository<TSaga>(this ISagaRegistrationConfigurator<TSaga> configurator,
        Action<PatternsEntityFrameworkSagaRepositoryConfigurator> configure)
        where TSaga : class, ISaga
    {
        var repository = new PatternsEntityFrameworkSagaRepositoryConfigurator();
        configure(repository);
        configurator.Repository(x => repository.Register<TSaga>(x));
        return configurator;
    }

    /// <summary>Makes the EF Core repository the default for every saga registered without a repository of its own.</summary>
    public static void SetPatternsEntityFrameworkSagaRepositoryProvider(this IRegistrationConfigurator configurator,
        Action<PatternsEntityFrameworkSagaRepositoryConfigurator> configure)
    {
        configurator.SetSagaRepositoryProvider(new EntityFrameworkSagaRepositoryRegistrationProvider(configure));
    }

    sealed class EntityFrameworkSagaRepositoryRegistrationProvider(Action<PatternsEntityFrameworkSagaRepositoryConfigurator> configure) : ISagaRepositoryRegistrationProvider
    {
        public void Configure<TSaga>(ISagaRegistrationConfigurator<TSaga> configurator)
            where TSaga : class, ISaga =>
            configurator.PatternsEntityFrameworkRepository(configure);
    }
}
