using MassTransit.Patterns.EntityFrameworkCore.Workflow;
using MassTransit.Patterns.Workflow;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace MassTransit;

/// <summary>Registers the EF Core workflow store (what a repair console reads).</summary>
public static class EntityFrameworkCoreWorkflowStoreConfigurationExtensions
{
    /// <summary>
    /// Registers <see cref="IWorkflowMessageStore"/> over <typeparamref name="TDbContext"/>, which maps the workflow rows
    /// with <see cref="WorkflowModelBuilderExtensions.AddWorkflowEventEntities"/> and is registered with <c>AddDbContext</c>:
    /// pages, filters, groups and counts computed by the database on SQLite, PostgreSQL and SQL Server. A singleton that
    /// opens a scope per call. Read-only: changes go through the processor (<see cref="WorkflowEventClient"/>).
    /// </summary>
    public static IServiceCollection AddPatternsEntityFrameworkWorkflowStore<TDbContext>(this IServiceCollection services)
        where TDbContext : DbContext
    {
        ArgumentNullException.ThrowIfNull(services);
        services.Replace(ServiceDescriptor.Singleton<IWorkflowMessageStore, EntityFrameworkWorkflowMessageStore<TDbContext>>());
        return services;
    }
}
