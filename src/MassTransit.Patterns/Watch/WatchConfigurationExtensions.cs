using System.Text.RegularExpressions;
using MassTransit.Patterns.Configuration;
using MassTransit.Patterns.Diagnostics;
using MassTransit.Patterns.Watch;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace MassTransit;

/// <summary>Registers watch sources and watchers.</summary>
public static partial class WatchConfigurationExtensions
{
    /// <summary>
    /// Makes this service the watch source of <typeparamref name="TValue"/>: <see cref="IWatchSource{TValue}"/>
    /// to set values, a registration endpoint (<see cref="WatchSourceOptions.EndpointName"/>) that answers
    /// watchers with the current values, and a sweep that prunes expired registrations. The values and the
    /// registry live in the registered <see cref="IWatchStore"/>: <see cref="InMemoryWatchStore"/> unless
    /// another is registered (EF Core: <c>AddEntityFrameworkWatchStore&lt;TDbContext&gt;()</c>). Options are
    /// validated when the bus starts, naming the bad one.
    /// </summary>
    public static IConsumerRegistrationConfigurator<WatchSourceConsumer<TValue>> AddWatchSource<TValue>(this IBusRegistrationConfigurator configurator,
        Action<WatchSourceOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(configurator);
        var options = new WatchSourceOptions();
        configure?.Invoke(options);
        options.Name ??= typeof(TValue).Name;
        options.EndpointName ??= "watch-source-" + KebabCase(options.Name);

        configurator.TryAddSingleton<IWatchStore, InMemoryWatchStore>();
        AddMetrics(configurator);
        configurator.AddSingleton(new WatchSourceSettings<TValue>(options));
        configurator.TryAddSingleton<IWatchSource<TValue>>(provider => new WatchSource<TValue>(provider, provider.GetRequiredService<WatchSourceSettings<TValue>>(),
            provider.GetRequiredService<IWatchStore>(), provider.GetService<TimeProvider>(),
            provider.GetService<ILogger<WatchSource<TValue>>>() ?? NullLogger<WatchSource<TValue>>.Instance));
        // The source's read side, for the dashboard: every source of the container through one service type.
        configurator.AddSingleton<IWatchSourceView>(provider => provider.GetRequiredService<IWatchSource<TValue>>() as IWatchSourceView
            ?? throw new InvalidOperationException($"IWatchSource<{typeof(TValue).Name}> was replaced by a type that is not an IWatchSourceView."));
        configurator.AddBusObserver(provider => new WatchBusObserver<TValue>(provider));
        return configurator.AddConsumer<WatchSourceConsumer<TValue>, WatchSourceConsumerDefinition<TValue>>();
    }

    /// <summary>
    /// Registers <see cref="IWatcherFactory{TValue}"/>, which starts watchers of <typeparamref name="TValue"/> at
    /// run time; they receive their notifications on the bus's instance endpoint.
    /// </summary>
    public static IServiceCollection AddWatcherFactory<TValue>(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        AddMetrics(services);
        services.TryAddSingleton<WatcherHub<TValue>>(provider => new WatcherHub<TValue>(provider));
        services.TryAddSingleton<IWatcherFactory<TValue>>(provider => provider.GetRequiredService<WatcherHub<TValue>>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IWatcherRenewals, WatcherHub<TValue>>(provider => provider.GetRequiredService<WatcherHub<TValue>>()));
        services.AddBusObserver(provider => new WatchBusObserver<TValue>(provider));
        return services;
    }

    /// <summary>
    /// Registers a watcher of <typeparamref name="TValue"/> that starts with the bus (once it is ready),
    /// registers with the source, renews its lease and cancels its registration when the bus stops.
    /// Resolve it as <see cref="IWatcher{TValue}"/> (all of them as <c>IEnumerable&lt;IWatcher&lt;TValue&gt;&gt;</c>)
    /// for its values and <see cref="IWatcher{TValue}.Changed"/> event. Options are validated when the bus starts.
    /// </summary>
    public static IServiceCollection AddWatcher<TValue>(this IServiceCollection services, Action<WatcherOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        var options = new WatcherOptions();
        configure(options);
        var settings = new HostedWatcherSettings<TValue>(options);
        services.AddWatcherFactory<TValue>();
        services.AddSingleton(settings);
        services.AddSingleton<IWatcher<TValue>>(provider => provider.GetRequiredService<WatcherHub<TValue>>().Create(settings.Options));
        return services;
    }

    static void AddMetrics(IServiceCollection services)
    {
        PatternsMeter.Register(services);
        services.TryAddSingleton(provider => new WatchMetrics(provider.GetRequiredService<PatternsMeter>()));
    }

    static string KebabCase(string name) => KebabRegex().Replace(name, "$1-$2").ToLowerInvariant();

    [GeneratedRegex("([a-z0-9])([A-Z])")]
    private static partial Regex KebabRegex();
}
