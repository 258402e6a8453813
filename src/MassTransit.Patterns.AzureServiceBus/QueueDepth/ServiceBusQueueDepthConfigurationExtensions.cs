using Azure.Messaging.ServiceBus.Administration;
using MassTransit.Patterns.AzureServiceBus.QueueDepth;
using MassTransit.Patterns.QueueDepth;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace MassTransit;

/// <summary>Registers the Azure Service Bus queue depth probe.</summary>
public static class ServiceBusQueueDepthConfigurationExtensions
{
    /// <summary>Uses <see cref="ServiceBusQueueDepthProbe"/> as the <see cref="IQueueDepthProbe"/>.</summary>
    public static IServiceCollection AddServiceBusQueueDepthProbe(this IServiceCollection services, Action<ServiceBusProbeOptions> configure)
    {
        services.AddPatternOptions(configure);
        services.TryAddSingleton(sp => new ServiceBusAdministrationClient(
            sp.GetRequiredService<IOptions<ServiceBusProbeOptions>>().Value.ConnectionString));
        services.TryAddSingleton<ServiceBusQueueDepthProbe>();
        services.Replace(ServiceDescriptor.Singleton<IQueueDepthProbe>(sp => sp.GetRequiredService<ServiceBusQueueDepthProbe>()));
        return services;
    }
}
