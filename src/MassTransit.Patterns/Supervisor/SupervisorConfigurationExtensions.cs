using MassTransit.Patterns.Configuration;
using MassTransit.Patterns.Diagnostics;
using MassTransit.Patterns.QueueDepth;
using MassTransit.Patterns.Supervisor;
using MassTransit.Patterns.Supervisor.Fleet;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace MassTransit;

/// <summary>Turns on the supervisor-consumer pattern.</summary>
public static class SupervisorConfigurationExtensions
{
    /// <summary>
    /// Makes the endpoint's concurrency follow its queue's depth, between
    /// <see cref="SupervisorOptions.MinConsumers"/> and <see cref="SupervisorOptions.MaxConsumers"/>.
    /// The transport's concurrent message limit and prefetch are set to the maximum; a gate at the
    /// head of the receive pipe admits as many messages as the supervisor currently allows. Shrinking
    /// never cancels a message in flight. Needs an <see cref="IQueueDepthProbe"/> registration
    /// (e.g. <c>services.AddInMemoryQueueDepthProbe()</c> or <c>AddRabbitMqQueueDepthProbe(...)</c>).
    /// </summary>
    /// <param name="configurator">The receive endpoint.</param>
    /// <param name="context">The bus registration context (the probe, logger, clock and metrics come from its container).</param>
    /// <param name="configure">Sets the options; invalid options fail the bus start, naming the option.</param>
    public static void UseSupervisor(this IReceiveEndpointConfigurator configurator, IRegistrationContext context, Action<SupervisorOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(configurator);
        ArgumentNullException.ThrowIfNull(context);
        IServiceProvider provider = context;

        var options = new SupervisorOptions();
        configure?.Invoke(options);
        var validator = options.CreateValidator(nameof(SupervisorOptions));
        var probe = provider.GetService<IQueueDepthProbe>();
        validator.Require(probe is not null, "Probe", "needs an IQueueDepthProbe: register one, e.g. services.AddInMemoryQueueDepthProbe() or AddRabbitMqQueueDepthProbe(...).");
        validator.Require(probe is null || options.DepthMeasure != DepthMeasure.ReadyAndUnacknowledged || probe.KnowsUnacknowledged, nameof(SupervisorOptions.DepthMeasure),
            $"is ReadyAndUnacknowledged but the {probe?.Name} probe does not know unacknowledged messages: measure Ready, or use a probe that does (RabbitMQ management, in-memory).");

        // Refused beside another pattern that owns the endpoint's concurrency; stepping aside on an endpoint that keeps its own (a lane).
        if (!EndpointClaims.Claim(configurator, "UseSupervisor", EndpointTakeover.Concurrency, EndpointTakeover.None,
                $"sets the concurrent message limit and prefetch to MaxConsumers ({options.MaxConsumers}) and admits as many messages as the queue's depth wants"))
            return;

        ElasticConcurrencyLimit? gate = null;
        if (validator.IsValid)
        {
            configurator.ConcurrentMessageLimit = options.MaxConsumers;
            configurator.PrefetchCount = options.MaxConsumers;

            var queue = options.Queue ?? QueueName(configurator.InputAddress);
            gate = new ElasticConcurrencyLimit(options.MinConsumers);
            var logger = provider.GetService<ILoggerFactory>()?.CreateLogger<ConsumerSupervisor>() ?? (ILogger)NullLogger.Instance;
            Func<IRequestClient<ReportSupervisorInstance>>? fleetClient = null;
            if (options.Fleet is not null)
            {
                var client = new Lazy<IRequestClient<ReportSupervisorInstance>>(() =>
                    provider.GetRequiredService<IClientFactory>().CreateRequestClient<ReportSupervisorInstance>());
                fleetClient = () => client.Value;
            }
            var supervisor = new ConsumerSupervisor(queue, options, gate, probe!, logger, provider.GetService<TimeProvider>(), fleetClient, SupervisorInstruments.From(provider));
            provider.GetService<ConsumerSupervisorRegistry>()?.Add(supervisor);
            configurator.ConnectReceiveEndpointObserver(new SupervisorEndpointObserver(supervisor));
        }

        configurator.ConfigureReceive(r => r.AddPipeSpecification(new SupervisorGateSpecification(validator, gate)));
    }

    /// <summary>
    /// Registers a <see cref="ConsumerSupervisorRegistry"/> through which the supervisors of this
    /// container's endpoints can be found (dashboards, tests). Optional.
    /// </summary>
    public static IServiceCollection AddConsumerSupervisorRegistry(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        PatternsMeter.Register(services);
        services.TryAddSingleton<SupervisorInstruments>();
        services.TryAddSingleton<ConsumerSupervisorRegistry>();
        return services;
    }

    /// <summary>
    /// Registers the supervisor saga (one instance per supervised queue) that coordinates the fleet
    /// of instances using <c>o.UseFleet()</c>. Choose its repository on the returned configurator:
    /// <c>.InMemoryRepository()</c> for one host, or a shared store for a real fleet, e.g.
    /// <c>.PatternsEntityFrameworkRepository(r =&gt; r.ExistingDbContext&lt;AppDb&gt;())</c>.
    /// </summary>
    public static ISagaRegistrationConfigurator<ConsumerSupervisorState> AddConsumerSupervisorSaga(this IBusRegistrationConfigurator configurator)
    {
        ArgumentNullException.ThrowIfNull(configurator);
        PatternsMeter.Register(configurator);
        return configurator.AddSagaStateMachine<ConsumerSupervisorStateMachine, ConsumerSupervisorState>(typeof(ConsumerSupervisorSagaDefinition));
    }

    static string QueueName(Uri inputAddress) =>
        MassTransit.Patterns.Addressing.AddressNames.EntityName(inputAddress) ?? throw new ConfigurationException($"The endpoint address {inputAddress} names no queue.");
}
