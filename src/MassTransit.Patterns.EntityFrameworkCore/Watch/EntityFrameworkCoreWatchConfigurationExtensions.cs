using MassTransit.Patterns.EntityFrameworkCore.Watch;
using MassTransit.Patterns.Watch;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace MassTransit;

/// <summary>Registers the EF Core watch store.</summary>
public static class EntityFrameworkCoreWatchConfigurationExtensions
{
    /// <summary>
    /// Keeps every watch source's values, versions and watcher registry in <typeparamref name="TDbContext"/>
    /// (which maps the tables with <see cref="WatchModelBuilderExtensions.AddWatchEntities"/> and is registered
    /// with <c>AddDbContext</c>), instead of in memory.
    /// </summary>
    public static IServiceCollection AddEntityFrameworkWatchStore<TDbContext>(this IServiceCollection services)
        where TDbContext : DbContext
    {
        ArgumentNullException.ThrowIfNull(services);
        services.Replace(ServiceDescriptor.Singleton<IWatchStore, EntityFrameworkWatchStore<TDbContext>>());
        return services;
    }
}
