using MassTransit.DependencyInjection;
using MassTransit.Middleware;
using MassTransit.Patterns.Configuration;
using MassTransit.Patterns.EntityFrameworkCore.EventForwarding;
using MassTransit.Patterns.EventForwarding;
using MassTransit.Patterns.QueueDepth;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace MassTransit;

/// <summary>Registers and applies the EF Core inbox and transactional outbox.</summary>
public static class EntityFrameworkCoreEventForwardingConfigurationExtensions
{
    /// <summary>The options name of the inbox and outbox of <typeparamref name="TDbContext"/>.</summary>
    internal static string OptionsName<TDbContext>()
        where TDbContext : DbContext =>
        typeof(TDbContext).FullName ?? typeof(TDbContext).Name;

    /// <summary>
    /// Registers the inbox and outbox of <typeparamref name="TDbContext"/> (map their tables with
    /// <see cref="EventForwardingModelBuilderExtensions.AddEventForwardingEntities"/>): the context factory
    /// the endpoint filter uses, the scoped bus that turns an API handler's sends and publishes into
    /// outbox rows committed by its <c>SaveChanges</c>, the background delivery service and the inbox
    /// clean-up. Also registers event forwarding (<see cref="EventForwardingConfigurationExtensions.AddEventForwarding"/>)
    /// whose send timeout and resend limit the delivery uses. Then put
    /// <see cref="UsePatternsEntityFrameworkOutbox{TDbContext}"/> on the endpoints whose consumers write through it.
    /// </summary>
    public static IBusRegistrationConfigurator AddPatternsEntityFrameworkOutbox<TDbContext>(this IBusRegistrationConfigurator configurator,
        Action<PatternsEntityFrameworkOutboxOptions>? configure = null)
        where TDbContext : DbContext
    {
        ArgumentNullException.ThrowIfNull(configurator);
        configurator.AddEventForwarding();
        configurator.AddPatternOptions(configure, OptionsName<TDbContext>());
        configurator.TryAddSingleton<ForwardingMetrics>();
        configurator.TryAddSingleton<OutboxDeliverySignal<TDbContext>>();
        configurator.TryAddScoped<IOutboxContextFactory<TDbContext>, PatternsEntityFrameworkOutboxContextFactory<TDbContext>>();
        configurator.Replace(ServiceDescriptor.Scoped<IScopedBusContextProvider<IBus>, ForwardingScopedBusContextProvider<TDbContext>>());
        configurator.TryAddSingleton<OutboxDeliveryService<TDbContext>>();
        configurator.TryAddEnumerable(ServiceDescriptor.Singleton<Microsoft.Extensions.Hosting.IHostedService, OutboxDeliveryService<TDbContext>>(
            sp => sp.GetRequiredService<OutboxDeliveryService<TDbContext>>()));
        // What the operations view and the health checks read: one backlog reader and one delivery service per outbox DbContext.
        configurator.TryAddEnumerable(ServiceDescriptor.Singleton<IOutboxBacklog, EntityFrameworkOutboxBacklog<TDbContext>>());
        configurator.TryAddEnumerable(ServiceDescriptor.Singleton<IOutboxDelivery, OutboxDeliveryService<TDbContext>>(
            sp => sp.GetRequiredService<OutboxDeliveryService<TDbContext>>()));
        configurator.TryAddSingleton<PatternsInboxCleanupService<TDbContext>>();
        configurator.TryAddEnumerable(ServiceDescriptor.Singleton<Microsoft.Extensions.Hosting.IHostedService, PatternsInboxCleanupService<TDbContext>>(
            sp => sp.GetRequiredService<PatternsInboxCleanupService<TDbContext>>()));
        return configurator;
    }

    /// <summary>
    /// Runs every consumer and saga configured on this endpoint afterwards (so call it first, e.g. in
    /// <c>AddConfigureEndpointsCallback</c>) inside one <typeparamref name="TDbContext"/> transaction
    /// with the inbox row of the message and the outbox rows of what it sends and publishes; the
    /// message is acknowledged only after that commit, and a copy of a consumed message is
    /// acknowledged without running the consumer. Needs <see cref="AddPatternsEntityFrameworkOutbox{TDbContext}"/>.
    /// A <typeparamref name="TDbContext"/> whose model does not map the tables
    /// (<see cref="EventForwardingModelBuilderExtensions.AddEventForwardingEntities"/>) fails here, when the
    /// bus is configured, with <see cref="ConfigurationException"/> naming the call.
    /// </summary>
    public static void UsePatternsEntityFrameworkOutbox<TDbContext>(this IReceiveEndpointConfigurator configurator, IRegistrationContext context,
        Action<ForwardingEndpointOptions>? configure = null)
        where TDbContext : DbContext
    {
        ArgumentNullException.ThrowIfNull(configurator);
        ArgumentNullException.ThrowIfNull(context);
        var options = new ForwardingEndpointOptions();
        configure?.Invoke(options);
        options.EnsureValid();
        EnsureModel<TDbContext>(context.GetRequiredService<IServiceScopeFactory>());

        var batch = options.BatchOptions is { } batchOptions ? CreateBatchCollector<TDbContext>(context, batchOptions) : null;
        var observer = new ForwardingConsumePipeSpecificationObserver<TDbContext>(configurator, context, options, batch);
        configurator.ConnectConsumerConfigurationObserver(observer);
        configurator.ConnectSagaConfigurationObserver(observer);
    }

    /// <summary>One endpoint's batched inbox, over the container's services for <typeparamref name="TDbContext"/>.</summary>
    static ForwardingBatchCollector CreateBatchCollector<TDbContext>(IRegistrationContext context, ForwardingBatchOptions options)
        where TDbContext : DbContext
    {
        var outboxOptions = context.GetRequiredService<IOptionsMonitor<PatternsEntityFrameworkOutboxOptions>>().Get(OptionsName<TDbContext>());
        var signal = context.GetRequiredService<OutboxDeliverySignal<TDbContext>>();
        var logger = context.GetService<ILoggerFactory>()?.CreateLogger(ForwardingBatchLog.Category) ?? NullLogger.Instance;
        return options.Collector = new ForwardingBatchCollector(options, context.GetRequiredService<IServiceScopeFactory>(),
            sp => sp.GetRequiredService<TDbContext>(), typeof(TDbContext).Name, outboxOptions.IsolationLevel, context.GetRequiredService<ForwardingMetrics>(),
            logger, signal.Handoff);
    }

    /// <summary>Builds the model of a <typeparamref name="TDbContext"/> from the container (no connection is opened) and checks that it maps the tables.</summary>
    internal static void EnsureModel<TDbContext>(IServiceScopeFactory scopes)
        where TDbContext : DbContext
    {
        using var scope = scopes.CreateScope();
        EventForwardingModelBuilderExtensions.EnsureEventForwardingEntities(scope.ServiceProvider.GetRequiredService<TDbContext>());
    }
}
