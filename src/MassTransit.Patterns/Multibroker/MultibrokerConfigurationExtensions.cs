using MassTransit.Configuration;
using MassTransit.Patterns.Configuration;
using MassTransit.Patterns.Diagnostics;
using MassTransit.Patterns.Multibroker;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace MassTransit;

/// <summary>Registers the multibroker pattern.</summary>
public static class MultibrokerConfigurationExtensions
{
    /// <summary>
    /// Adds several independent brokers used as one: a bus per broker (started and stopped with the
    /// host), the same consumers on each (registered once with <see cref="IMultibrokerConfigurator.Register"/>),
    /// and <see cref="IMultibroker"/> to send and publish through them. Independent of any
    /// <c>AddMassTransit</c> bus of the application; one multibroker per container.
    /// </summary>
    /// <example><code>
    /// services.AddMultibroker(x =>
    /// {
    ///     x.Register(r => r.AddConsumer&lt;OrderConsumer&gt;());
    ///     x.Broker("a", new InMemoryMultibrokerTransport());   // RabbitMQ: x.RabbitMqBroker("a", uri, h => ...)
    ///     x.Broker("b", new InMemoryMultibrokerTransport());
    ///     x.Strategy(MultibrokerStrategy.KeyHash).Key&lt;PlaceOrder&gt;(m => m.CustomerId);
    /// });
    /// </code></example>
    /// <exception cref="PatternOptionsException">An option or the broker list is invalid (the message names it).</exception>
    public static IServiceCollection AddMultibroker(this IServiceCollection services, Action<IMultibrokerConfigurator> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        if (services.Any(d => d.ServiceType == typeof(MultibrokerRuntime)))
            throw new ConfigurationException("AddMultibroker was already called: one multibroker per container.");

        var configurator = new MultibrokerConfigurator();
        configure(configurator);
        configurator.Validate().ThrowIfInvalid();

        // The consumers are registered once, under a bus type of their own that is never built: each
        // broker's bus reads them through its own registration context.
        var hadMassTransitHost = services.Any(IsMassTransitHostedService);
        IContainerRegistrar? registrar = null;
        services.AddMassTransit<IMultibrokerBus>(x =>
        {
            registrar = x.Registrar;
            foreach (var register in configurator.Registrations)
                register(x);
        });
        // MassTransit's hosted service refuses to start without a bus of its own; the multibroker starts
        // its buses itself. An AddMassTransit of the application (before or after) keeps or adds it back.
        if (!hadMassTransitHost)
            foreach (var descriptor in services.Where(IsMassTransitHostedService).ToList())
                services.Remove(descriptor);

        PatternsMeter.Register(services);
        services.TryAddSingleton(provider => new MultibrokerMetrics(provider.GetRequiredService<PatternsMeter>()));
        services.AddSingleton(provider => new MultibrokerRuntime(configurator, provider, registrar!,
            provider.GetService<ILogger<MultibrokerRuntime>>() ?? NullLogger<MultibrokerRuntime>.Instance,
            provider.GetService<TimeProvider>() ?? TimeProvider.System, provider.GetRequiredService<MultibrokerMetrics>()));
        services.AddSingleton<IMultibroker>(provider => new MultibrokerBus(provider.GetRequiredService<MultibrokerRuntime>()));
        services.AddSingleton<IHostedService, MultibrokerHostedService>();
        return services;
    }

    static bool IsMassTransitHostedService(ServiceDescriptor d) =>
        d.ServiceType == typeof(IHostedService) && d.ImplementationType == typeof(MassTransitHostedService);
}
