using MassTransit.Patterns.Workflow;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace MassTransit;

/// <summary>Registers the workflow store that reads through the saga repository (tests and small in-memory apps).</summary>
public static class SagaRepositoryWorkflowMessageStoreExtensions
{
    /// <summary>
    /// Registers an <see cref="IWorkflowMessageStore"/> that reads the workflow processor's saga repository (any
    /// repository MassTransit can query and load, e.g. <c>.InMemoryRepository()</c>) and filters, orders and counts in
    /// memory: every list loads every workflow, so use it for tests and small in-memory apps; with EF Core register the
    /// store that queries the database instead. Scoped, like the repositories it reads. Does nothing when a store is registered already.
    /// </summary>
    public static IServiceCollection AddWorkflowMessageStoreOverSagaRepository(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddScoped<IWorkflowMessageStore, SagaRepositoryWorkflowMessageStore>();
        return services;
    }
}
