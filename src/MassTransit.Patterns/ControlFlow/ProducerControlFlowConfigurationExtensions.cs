using MassTransit.Patterns.Configuration;
using MassTransit.Patterns.ControlFlow;
using MassTransit.Patterns.ControlFlow.Contracts;
using MassTransit.Patterns.QueueDepth;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace MassTransit;

/// <summary>Configures producer control flow: the monitor on the consuming side, the gate on the producing side.</summary>
public static class ProducerControlFlowConfigurationExtensions
{
    /// <summary>
    /// Adds a <see cref="FlowMonitor"/> (hosted) that watches queues with the registered
    /// <see cref="IQueueDepthProbe"/>, e.g. <c>o.Watch("orders", highWatermark: 1000, lowWatermark: 200).Consumes&lt;OrderPlaced&gt;()</c>.
    /// Its options are validated at start: a bad mark fails start-up naming it.
    /// </summary>
    public static IServiceCollection AddFlowMonitor(this IServiceCollection services, Action<FlowMonitorOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddPatternOptions(configure);
        services.AddQueueDepthMonitor();
        ControlFlowMetrics.Register(services);
        services.TryAddSingleton<FlowControlStateStore>();
        services.TryAddSingleton<FlowMonitor>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, FlowMonitorHost>());
        return services;
    }

    /// <summary>
    /// Lets this process's producers learn flow states published by monitors elsewhere: a consumer of
    /// <see cref="FlowControlStateChanged"/> on an instance-specific temporary endpoint. Not needed when
    /// the monitor runs in the same process (it feeds the producers directly).
    /// </summary>
    public static IBusRegistrationConfigurator AddProducerControlFlow(this IBusRegistrationConfigurator configurator)
    {
        ArgumentNullException.ThrowIfNull(configurator);
        configurator.TryAddSingleton<FlowControlStateStore>();
        ControlFlowMetrics.Register(configurator);
        configurator.AddConsumer<FlowControlStateConsumer>().Endpoint(e =>
        {
            e.Name = $"flow-control-{Environment.MachineName}-{Environment.ProcessId}-{NewId.NextGuid():N}".ToLowerInvariant();
            e.Temporary = true;
        });
        return configurator;
    }

    /// <summary>
    /// Applies flow control to everything this bus sends and publishes: messages bound to a slowed or
    /// stopped queue are delayed, rate-limited, held or rejected (<see cref="BackPressureException"/>)
    /// as <paramref name="configure"/> says. Invalid options fail the bus start naming the option.
    /// </summary>
    public static void UseProducerControlFlow(this IBusFactoryConfigurator configurator, IRegistrationContext context,
        Action<ProducerControlFlowOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(configurator);
        ArgumentNullException.ThrowIfNull(context);
        var options = new ProducerControlFlowOptions();
        configure?.Invoke(options);
        options.EnsureValid();

        var store = context.GetService<FlowControlStateStore>()
            ?? throw new ConfigurationException("UseProducerControlFlow needs a FlowControlStateStore: call x.AddProducerControlFlow() or services.AddFlowMonitor(...).");
        var logger = context.GetService<ILoggerFactory>()?.CreateLogger<ProducerControlFlowGate>() ?? (ILogger)NullLogger.Instance;
        var gate = new ProducerControlFlowGate(store, options, logger, ControlFlowMetrics.From(context), context.GetService<TimeProvider>());
        var observer = new ProducerControlFlowObserver(gate, store);
        configurator.ConfigureSend(s => s.ConnectSendPipeSpecificationObserver(observer));
        configurator.ConfigurePublish(p => p.ConnectPublishPipeSpecificationObserver(observer));
        var hold = new ProducerControlFlowHoldObserver(gate);
        configurator.ConnectSendObserver(hold);
        configurator.ConnectPublishObserver(hold);
    }
}
