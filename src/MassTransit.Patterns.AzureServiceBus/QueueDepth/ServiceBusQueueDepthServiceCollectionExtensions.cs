using Azure.Messaging.ServiceBus.Administration;
using MassTransit.Patterns.Configuration;
using MassTransit.Patterns.QueueDepth;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace MassTransit.Patterns.AzureServiceBus.QueueDepth;

/// <summary>Where the Azure Service Bus probe connects. The connection string comes from configuration.</summary>
public sealed class ServiceBusProbeOptions : IPatternOptions
{
    /// <summary>A connection string with Manage rights; never logged.</summary>
    public string? ConnectionString { get; set; }

    /// <inheritdoc />
    public void Validate(OptionsValidator validator) => validator.NotEmpty(ConnectionString, nameof(ConnectionString));
}

/// <summary>Registers the Azure Service Bus queue depth probe.</summary>
public static class ServiceBusQueueDepthServiceCollectionExtensions
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
