using MassTransit.Patterns.Configuration;
using MassTransit.Patterns.QueueDepth.InMemory;
using MassTransit.Transports;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace MassTransit.Patterns.QueueDepth;

/// <summary>Registers queue depth probes and the <see cref="QueueDepthMonitor"/>.</summary>
public static class QueueDepthServiceCollectionExtensions
{
    /// <summary>
    /// Adds the <see cref="QueueDepthMonitor"/> (a hosted service) over the registered
    /// <see cref="IQueueDepthProbe"/>. Its options are validated when the host starts.
    /// </summary>
    public static IServiceCollection AddQueueDepthMonitor(this IServiceCollection services, Action<QueueDepthMonitorOptions>? configure = null)
    {
        services.AddPatternOptions(configure);
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

    /// <summary>
    /// Registers <typeparamref name="TOptions"/> with its <see cref="IPatternOptions.Validate"/>
    /// run when the host starts, so a bad value fails start-up naming the option.
    /// </summary>
    public static OptionsBuilder<TOptions> AddPatternOptions<TOptions>(this IServiceCollection services, Action<TOptions>? configure = null, string? name = null)
        where TOptions : class, IPatternOptions
    {
        var builder = services.AddOptions<TOptions>(name ?? Options.DefaultName);
        if (configure is not null)
            builder.Configure(configure);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<TOptions>, PatternOptionsValidation<TOptions>>());
        builder.ValidateOnStart();
        return builder;
    }
}

/// <summary>Runs the singleton <see cref="QueueDepthMonitor"/> with the host, registered once however often it is added.</summary>
sealed class QueueDepthMonitorHost(QueueDepthMonitor monitor) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => monitor.StartAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => monitor.StopAsync(cancellationToken);
}
