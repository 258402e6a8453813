using MassTransit.Patterns.QueueDepth;
using MassTransit.Patterns.QueueDepth.InMemory;
using MassTransit.Transports;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace MassTransit;

/// <summary>Registers queue depth probes and the queue depth monitor (<see cref="IQueueDepthMonitor"/>).</summary>
public static class QueueDepthConfigurationExtensions
{
    /// <summary>
    /// Adds the queue depth monitor (<see cref="IQueueDepthMonitor"/>, a hosted service) over the registered
    /// <see cref="IQueueDepthProbe"/>. Its options are validated when the host starts.
    /// </summary>
    public static IServiceCollection AddQueueDepthMonitor(this IServiceCollection services, Action<QueueDepthMonitorOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddPatternOptions(configure);
        QueueDepthMetrics.Register(services);
        services.TryAddSingleton<QueueDepthMonitor>();
        services.TryAddSingleton<IQueueDepthMonitor>(sp => sp.GetRequiredService<QueueDepthMonitor>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, QueueDepthMonitorHost>());
        return services;
    }

    /// <summary>
    /// Uses the counting in-memory probe as the <see cref="IQueueDepthProbe"/>, for the in-memory
    /// transport and the test harness. Call it with the bus registration, before the bus starts.
    /// </summary>
    public static IServiceCollection AddInMemoryQueueDepthProbe(this IServiceCollection services)
    {
        services.TryAddSingleton(sp => new InMemoryQueueDepthProbe(() => sp.GetService<IBusInstance>()));
        services.Replace(ServiceDescriptor.Singleton<IQueueDepthProbe>(sp => sp.GetRequiredService<InMemoryQueueDepthProbe>()));
        services.AddSendObserver(sp => sp.GetRequiredService<InMemoryQueueDepthProbe>());
        services.AddPublishObserver(sp => sp.GetRequiredService<InMemoryQueueDepthProbe>());
        services.AddReceiveObserver(sp => sp.GetRequiredService<InMemoryQueueDepthProbe>());
        services.AddReceiveEndpointObserver(sp => sp.GetRequiredService<InMemoryQueueDepthProbe>());
        return services;
    }
}
