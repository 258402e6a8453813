using MassTransit.Patterns.Diagnostics;
using MassTransit.Patterns.EntityFrameworkCore.Workflow;
using MassTransit.Patterns.QueueDepth;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace MassTransit;

/// <summary>Registers the retention of resolved workflow rows.</summary>
public static class EntityFrameworkCoreWorkflowEventConfigurationExtensions
{
    /// <summary>
    /// Removes resolved workflow rows (Completed, Discarded) of <typeparamref name="TDbContext"/> after
    /// <see cref="WorkflowEventRetentionOptions.Retention"/> (default 30 days); waiting rows are kept.
    /// Invalid options fail the host's start naming the option.
    /// </summary>
    public static IServiceCollection AddWorkflowEventRetention<TDbContext>(this IServiceCollection services,
        Action<WorkflowEventRetentionOptions>? configure = null)
        where TDbContext : DbContext
    {
        services.AddPatternOptions(configure);
        PatternsMeter.Register(services);
        services.TryAddSingleton<WorkflowEventRetentionService<TDbContext>>();
        services.AddHostedService(sp => sp.GetRequiredService<WorkflowEventRetentionService<TDbContext>>());
        return services;
    }
}
