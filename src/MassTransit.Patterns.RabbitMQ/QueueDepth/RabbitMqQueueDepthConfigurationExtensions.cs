using MassTransit.Patterns.QueueDepth;
using MassTransit.Patterns.RabbitMQ.QueueDepth;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace MassTransit;

/// <summary>Registers the RabbitMQ queue depth probes.</summary>
public static class RabbitMqQueueDepthConfigurationExtensions
{
    /// <summary>
    /// Uses <see cref="RabbitMqQueueDepthProbe"/> (AMQP passive declare: ready only, immediate) as the
    /// <see cref="IQueueDepthProbe"/>.
    /// </summary>
    public static IServiceCollection AddRabbitMqQueueDepthProbe(this IServiceCollection services, Action<RabbitMqProbeOptions> configure)
    {
        services.AddPatternOptions(configure);
        services.TryAddSingleton<RabbitMqQueueDepthProbe>();
        services.Replace(ServiceDescriptor.Singleton<IQueueDepthProbe>(sp => sp.GetRequiredService<RabbitMqQueueDepthProbe>()));
        return services;
    }

    /// <summary>
    /// Uses <see cref="RabbitMqManagementQueueDepthProbe"/> (management API: ready and unacknowledged,
    /// refreshed at the broker's statistics interval) as the <see cref="IQueueDepthProbe"/>.
    /// </summary>
    public static IServiceCollection AddRabbitMqManagementQueueDepthProbe(this IServiceCollection services, Action<RabbitMqManagementProbeOptions> configure)
    {
        services.AddPatternOptions(configure);
        services.AddHttpClient<RabbitMqManagementQueueDepthProbe>();
        services.Replace(ServiceDescriptor.Singleton<IQueueDepthProbe>(sp => sp.GetRequiredService<RabbitMqManagementQueueDepthProbe>()));
        return services;
    }
}
