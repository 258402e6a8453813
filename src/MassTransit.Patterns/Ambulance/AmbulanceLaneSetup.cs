using MassTransit.Patterns.Configuration;
using MassTransit.Patterns.Diagnostics;
using MassTransit.Patterns.QueueDepth;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace MassTransit.Patterns.Ambulance;

/// <summary>
/// What <c>UseAmbulanceLane</c> does on every transport: runs the user's configuration, resolves the lanes against the
/// bus registration, connects the classifier, and declares each lane endpoint beside its queue. The transports'
/// <c>UseAmbulanceLane</c> overloads call it with their lane topology.
/// </summary>
static class AmbulanceLaneSetup
{
    /// <summary>
    /// The implementation shared by the transports' overloads: <paramref name="transport"/> is the
    /// default lane topology, which <see cref="AmbulanceConfigurator.Transport"/> may replace.
    /// </summary>
    public static void Apply(IBusFactoryConfigurator configurator, IRegistrationContext context, Action<AmbulanceConfigurator>? configure,
        IAmbulanceLaneTransport? transport)
    {
        ArgumentNullException.ThrowIfNull(configurator);
        ArgumentNullException.ThrowIfNull(context);

        var ambulance = new AmbulanceConfigurator { Transport = transport };
        configure?.Invoke(ambulance);
        transport = ambulance.Transport;

        var failures = new List<OptionFailure>();
        var consumers = new Dictionary<LaneRegistration, LaneConsumers>();
        AmbulanceLaneResolution.Resolve(ambulance, context, failures, consumers);

        var metrics = PatternsMeter.Metrics(context, meter => new AmbulanceMetrics(meter));

        // The classifier runs on every send and publish, lanes or not.
        var classification = new UrgentClassificationObserver(ambulance.Classifier, metrics);
        configurator.ConfigureSend(s => s.ConnectSendPipeSpecificationObserver(classification));
        configurator.ConfigurePublish(p => p.ConnectPublishPipeSpecificationObserver(classification));
        var prepare = new UrgentSendObserver(transport);
        configurator.ConnectSendObserver(prepare);
        configurator.ConnectPublishObserver(prepare);

        configurator.AddPipeSpecification(new AmbulanceValidation(failures, ambulance.Lanes));
        if (failures.Count > 0 || ambulance.Lanes.Count == 0 || transport is null)
            return;

        var logger = context.GetService<ILoggerFactory>()?.CreateLogger("MassTransit.Patterns.Ambulance") ?? NullLogger.Instance;
        configurator.ConnectEndpointConfigurationObserver(new QueueEndpointObserver(ambulance.Lanes, transport, metrics, logger));

        var registry = context.GetService<AmbulanceLaneRegistry>();
        foreach (var lane in ambulance.Lanes)
        {
            var options = lane.Options;
            lane.Gate = new LaneGate(options.QueueName, options.LaneName, options.ConcurrentMessageLimit, options.Mode, options.UrgentWeight);
            metrics.Track(lane.Gate);
            registry?.Add(lane.Gate);
            consumers.TryGetValue(lane, out var laneConsumers);
            // A lane beside a ConfigureEndpoints endpoint is declared the way ConfigureEndpoints declares that endpoint:
            // through its endpoint definition, so the transport applies it (temporary queues, the definitions'
            // AddConfigureEndpointCallback callbacks) to the lane as it does to the queue.
            if (laneConsumers?.Definition is { } definition)
                configurator.ReceiveEndpoint(new LaneEndpointDefinition(definition, options, context), null,
                    e => ConfigureLaneEndpoint(e, lane, context, laneConsumers, metrics, logger));
            else
                configurator.ReceiveEndpoint(options.LaneName, e => ConfigureLaneEndpoint(e, lane, context, laneConsumers, metrics, logger));
        }

        // Endpoints declared with ReceiveEndpoint are created after their lane, so the observer finds the lane configured.
        foreach (var lane in ambulance.Lanes.Where(l => l.Source == LaneSource.Manual))
            configurator.ReceiveEndpoint(lane.Options.QueueName, lane.ConfigureEndpoint!);

        if (context.GetService<IQueueDepthMonitor>() is { } monitor)
            configurator.ConnectBusObserver(new LaneDepthSubscription(monitor, ambulance.Lanes.Select(l => l.Options.LaneName).ToArray()));
    }

    static void ConfigureLaneEndpoint(IReceiveEndpointConfigurator endpoint, LaneRegistration lane, IRegistrationContext context, LaneConsumers? consumers,
        AmbulanceMetrics metrics, ILogger logger)
    {
        var options = lane.Options;
        lane.LaneEndpoint = endpoint;
        // The lane's concurrency is its own: a pattern in the queue's configuration that would take it over (the supervisor)
        // steps aside on the lane.
        EndpointClaims.Reserve(endpoint, EndpointTakeover.Concurrency);

        if (lane.Source == LaneSource.Manual)
            lane.ConfigureEndpoint!(endpoint);
        else if (consumers is not null)
        {
            // What ConfigureEndpoints does next for the queue endpoint, in its order: the AddConfigureEndpointsCallback
            // callbacks, called with the queue's name (a callback that picks its endpoint by name picks the lane too),
            // then the consumers and sagas with their definitions.
            if (context is IBusRegistrationContext busContext)
                busContext.GetConfigureReceiveEndpoints().Configure(options.QueueName, endpoint);
            foreach (var consumer in consumers.Consumers)
                consumer.Configure(endpoint, context);
            foreach (var saga in consumers.Sagas)
                saga.Configure(endpoint, context);
        }

        // The lane receives only through the fork: subscribing it to message types would deliver every
        // publish twice. Set after the consumers and callbacks, so nothing turns it back on.
        endpoint.ConfigureConsumeTopology = false;

        // Every urgent message taken waits at the budget (which lets ConcurrentMessageLimit run), so that
        // a slot freed by urgent work finds the next urgent message already waiting for it.
        endpoint.ConcurrentMessageLimit = options.EffectivePrefetchCount;
        endpoint.PrefetchCount = options.EffectivePrefetchCount;
        endpoint.UseFilter(new LaneSlotFilter(lane.Gate!, lane: true, metrics));

        foreach (var pattern in EndpointClaims.SteppedAside(endpoint))
            AmbulanceLog.SteppedAside(logger, pattern, options.LaneName, options.QueueName, options.ConcurrentMessageLimit);
    }
}
