using MassTransit.Configuration;
using MassTransit.Patterns.Configuration;
using MassTransit.Patterns.QueueDepth;
using MassTransit.Transports;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace MassTransit.Patterns.Ambulance;

/// <summary>
/// <c>cfg.UseAmbulanceLane(context, a => ...)</c>: a priority lane beside chosen queues, and the
/// send-side classifier that marks urgent messages. Call it before <c>ConfigureEndpoints</c>.
/// </summary>
public static class AmbulanceConfigurationExtensions
{
    /// <summary>
    /// Adds the ambulance lane on the in-memory transport (and under the test harness).
    /// </summary>
    /// <example>
    /// <code>
    /// x.UsingInMemory((context, cfg) =>
    /// {
    ///     cfg.UseAmbulanceLane(context, a =>
    ///     {
    ///         a.Urgent&lt;PlaceOrder&gt;(m => m.Express);
    ///         a.Endpoint("orders", lane => lane.ConcurrentMessageLimit = 2);
    ///     });
    ///     cfg.ConfigureEndpoints(context);
    /// });
    /// </code>
    /// </example>
    public static void UseAmbulanceLane(this IInMemoryBusFactoryConfigurator configurator, IRegistrationContext? context,
        Action<AmbulanceConfigurator> configure) =>
        Apply(configurator, context, configure, InMemoryAmbulanceLaneTransport.Instance);

    /// <summary>
    /// Adds the ambulance lane on any transport: the transport's lane topology is taken from
    /// <see cref="AmbulanceConfigurator.Transport"/> (in-memory is recognised). A bus that only
    /// classifies (no <c>Endpoint</c>) needs no transport topology.
    /// </summary>
    public static void UseAmbulanceLane(this IBusFactoryConfigurator configurator, IRegistrationContext? context,
        Action<AmbulanceConfigurator> configure) =>
        Apply(configurator, context, configure, configurator is IInMemoryBusFactoryConfigurator ? InMemoryAmbulanceLaneTransport.Instance : null);

    /// <summary>
    /// The implementation shared by the transports' overloads: <paramref name="transport"/> is the
    /// default lane topology, which <see cref="AmbulanceConfigurator.Transport"/> may replace.
    /// </summary>
    public static void Apply(IBusFactoryConfigurator configurator, IRegistrationContext? context, Action<AmbulanceConfigurator> configure,
        IAmbulanceLaneTransport? transport)
    {
        ArgumentNullException.ThrowIfNull(configurator);
        ArgumentNullException.ThrowIfNull(configure);

        var ambulance = new AmbulanceConfigurator { Transport = transport };
        configure(ambulance);
        transport = ambulance.Transport;

        var failures = new List<OptionFailure>();
        var consumers = new Dictionary<LaneRegistration, LaneConsumers>();
        Resolve(ambulance, context, failures, consumers);

        // The classifier runs on every send and publish, lanes or not.
        var classification = new UrgentClassificationObserver(ambulance.Classifier);
        configurator.ConfigureSend(s => s.ConnectSendPipeSpecificationObserver(classification));
        configurator.ConfigurePublish(p => p.ConnectPublishPipeSpecificationObserver(classification));
        var prepare = new UrgentSendObserver(transport);
        configurator.ConnectSendObserver(prepare);
        configurator.ConnectPublishObserver(prepare);

        configurator.AddPipeSpecification(new AmbulanceValidation(failures, ambulance.Lanes));
        if (failures.Count > 0 || ambulance.Lanes.Count == 0 || transport is null)
            return;

        var logger = (context?.GetService(typeof(ILoggerFactory)) as ILoggerFactory)?.CreateLogger("MassTransit.Patterns.Ambulance")
            ?? NullLogger.Instance;
        configurator.ConnectEndpointConfigurationObserver(new QueueEndpointObserver(ambulance.Lanes, transport, logger));

        foreach (var lane in ambulance.Lanes)
        {
            var options = lane.Options;
            lane.Gate = new LaneGate(options.QueueName, options.LaneName, options.ConcurrentMessageLimit, options.Mode, options.UrgentWeight);
            AmbulanceMetrics.Track(lane.Gate);
            consumers.TryGetValue(lane, out var laneConsumers);
            // A lane beside a ConfigureEndpoints endpoint is declared the way ConfigureEndpoints declares that endpoint:
            // through its endpoint definition, so the transport applies it (temporary queues, the definitions'
            // AddConfigureEndpointCallback callbacks) to the lane as it does to the queue.
            if (laneConsumers?.Definition is { } definition && context is not null)
                configurator.ReceiveEndpoint(new LaneEndpointDefinition(definition, options, context), null,
                    e => ConfigureLaneEndpoint(e, lane, context, laneConsumers, logger));
            else
                configurator.ReceiveEndpoint(options.LaneName, e => ConfigureLaneEndpoint(e, lane, context, laneConsumers, logger));
        }

        // Endpoints declared with ReceiveEndpoint are created after their lane, so the observer finds the lane configured.
        foreach (var lane in ambulance.Lanes.Where(l => l.Source == LaneSource.Manual))
            configurator.ReceiveEndpoint(lane.Options.QueueName, lane.ConfigureEndpoint!);

        if (context?.GetService(typeof(IQueueDepthMonitor)) is IQueueDepthMonitor monitor)
            configurator.ConnectBusObserver(new LaneDepthSubscription(monitor, ambulance.Lanes.Select(l => l.Options.LaneName).ToArray()));
    }

    static void ConfigureLaneEndpoint(IReceiveEndpointConfigurator endpoint, LaneRegistration lane, IRegistrationContext? context, LaneConsumers? consumers,
        ILogger logger)
    {
        var options = lane.Options;
        lane.LaneEndpoint = endpoint;
        // The lane's concurrency is its own: a pattern in the queue's configuration that would take it over (the supervisor)
        // steps aside on the lane.
        EndpointClaims.Reserve(endpoint, EndpointTakeover.Concurrency);

        if (lane.Source == LaneSource.Manual)
            lane.ConfigureEndpoint!(endpoint);
        else if (context is not null && consumers is not null)
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
        endpoint.UseFilter(new LaneSlotFilter(lane.Gate!, lane: true));

        foreach (var pattern in EndpointClaims.SteppedAside(endpoint))
            AmbulanceLog.SteppedAside(logger, pattern, options.LaneName, options.QueueName, options.ConcurrentMessageLimit);
    }

    static void Resolve(AmbulanceConfigurator ambulance, IRegistrationContext? context, List<OptionFailure> failures,
        Dictionary<LaneRegistration, LaneConsumers> consumers)
    {
        var selector = context?.GetService(typeof(IContainerSelector)) as IContainerSelector;
        var formatter = ambulance.EndpointNameFormatter
            ?? (context as IBusRegistrationContext)?.EndpointNameFormatter
            ?? DefaultEndpointNameFormatter.Instance;

        // Definitions that ask for a lane (IAmbulanceLaneDefinition), unless a lane is configured explicitly for their endpoint.
        if (context is not null && selector is not null)
        {
            var definitions = selector.GetRegistrations<IConsumerRegistration>(context)
                .Where(r => r.IncludeInConfigureEndpoints)
                .Select(r => (IDefinition)r.GetDefinition(context))
                .Concat(selector.GetRegistrations<ISagaRegistration>(context).Where(r => r.IncludeInConfigureEndpoints).Select(r => (IDefinition)r.GetDefinition(context)));
            foreach (var definition in definitions)
            {
                if (definition is not IAmbulanceLaneDefinition laneDefinition)
                    continue;
                var name = definition switch
                {
                    IConsumerDefinition consumer => consumer.GetEndpointName(formatter),
                    ISagaDefinition saga => saga.GetEndpointName(formatter),
                    _ => null
                };
                if (name is null || ambulance.Lanes.Any(l => l.Options.QueueName == name || l.ConsumerType is not null && IsOn(l.ConsumerType, name)))
                    continue;
                var options = new AmbulanceLaneOptions { QueueName = name };
                laneDefinition.ConfigureLane(options);
                options.QueueName = name;
                ambulance.Lanes.Add(new LaneRegistration(options, LaneSource.Registered));
            }
        }

        bool IsOn(Type type, string name) =>
            selector!.TryGetRegistration<IConsumerRegistration>(context!, type, out var c) && c.GetDefinition(context!).GetEndpointName(formatter) == name
            || selector.TryGetRegistration<ISagaRegistration>(context!, type, out var s) && s.GetDefinition(context!).GetEndpointName(formatter) == name;

        foreach (var lane in ambulance.Lanes.Where(l => l.Source == LaneSource.Registered))
        {
            var what = lane.ConsumerType is { } t ? $"Endpoint<{t.Name}>" : $"Endpoint(\"{lane.Options.QueueName}\")";
            if (context is null || selector is null)
            {
                failures.Add(new OptionFailure($"AmbulanceConfigurator.{what}",
                    "needs the bus registration context to find the endpoint's consumers: call cfg.UseAmbulanceLane(context, ...) inside UsingXxx((context, cfg) => ...), or declare the endpoint with ReceiveEndpoint(...)."));
                continue;
            }

            if (lane.ConsumerType is { } type)
            {
                string? name = null;
                if (selector.TryGetRegistration<IConsumerRegistration>(context, type, out var consumer))
                    name = consumer.GetDefinition(context).GetEndpointName(formatter);
                else if (selector.TryGetRegistration<ISagaRegistration>(context, type, out var saga))
                    name = saga.GetDefinition(context).GetEndpointName(formatter);
                if (name is null)
                {
                    failures.Add(new OptionFailure($"AmbulanceConfigurator.{what}", $"no consumer or saga {type.Name} is registered with the bus."));
                    continue;
                }
                lane.Options.QueueName = name;
            }

            var queue = lane.Options.QueueName;
            var laneConsumers = selector.GetRegistrations<IConsumerRegistration>(context)
                .Where(r => r.IncludeInConfigureEndpoints && r.GetDefinition(context).GetEndpointName(formatter) == queue).ToList();
            var laneSagas = selector.GetRegistrations<ISagaRegistration>(context)
                .Where(r => r.IncludeInConfigureEndpoints && r.GetDefinition(context).GetEndpointName(formatter) == queue).ToList();
            if (!string.IsNullOrWhiteSpace(queue) && laneConsumers.Count + laneSagas.Count == 0)
                failures.Add(new OptionFailure($"AmbulanceConfigurator.{what}",
                    $"no consumer or saga registered for ConfigureEndpoints is on endpoint '{queue}'."));

            // What else ConfigureEndpoints would put on the endpoint has no copy on the lane: an urgent message for it would
            // find nothing there. Said at start-up rather than found in the lane's _skipped queue.
            var uncarried = selector.GetRegistrations<IExecuteActivityRegistration>(context)
                .Where(r => r.IncludeInConfigureEndpoints && r.GetDefinition(context).GetExecuteEndpointName(formatter) == queue)
                .Select(r => r.Type.Name)
                .Concat(selector.GetRegistrations<IActivityRegistration>(context)
                    .Where(r => r.IncludeInConfigureEndpoints && (r.GetDefinition(context).GetExecuteEndpointName(formatter) == queue
                        || r.GetDefinition(context).GetCompensateEndpointName(formatter) == queue))
                    .Select(r => r.Type.Name))
                .Concat(selector.GetRegistrations<IFutureRegistration>(context)
                    .Where(r => r.IncludeInConfigureEndpoints && r.GetDefinition(context).GetEndpointName(formatter) == queue)
                    .Select(r => r.Type.Name))
                .ToList();
            if (uncarried.Count > 0)
                failures.Add(new OptionFailure($"AmbulanceConfigurator.{what}",
                    $"endpoint '{queue}' also has activities or futures ({string.Join(", ", uncarried)}), which a lane does not carry: give them an endpoint of their own."));

            consumers[lane] = new LaneConsumers(laneConsumers, laneSagas, EndpointDefinitionOf(queue, laneConsumers, laneSagas, context, selector, formatter));
        }

        foreach (var lane in ambulance.Lanes)
            failures.AddRange(lane.Options.CreateValidator($"AmbulanceLaneOptions[{lane.Options.QueueName}]").Failures);

        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var lane in ambulance.Lanes.Where(l => !string.IsNullOrWhiteSpace(l.Options.QueueName)))
        {
            if (!names.Add(lane.Options.QueueName))
                failures.Add(new OptionFailure($"AmbulanceLaneOptions[{lane.Options.QueueName}].QueueName", "has more than one lane."));
        }
        foreach (var lane in ambulance.Lanes.Where(l => !string.IsNullOrWhiteSpace(l.Options.QueueName)))
        {
            if (names.Contains(lane.Options.LaneName) && !string.Equals(lane.Options.LaneName, lane.Options.QueueName, StringComparison.OrdinalIgnoreCase))
                failures.Add(new OptionFailure($"AmbulanceLaneOptions[{lane.Options.QueueName}].LaneQueueName",
                    $"'{lane.Options.LaneName}' is a queue that has a lane of its own."));
        }

        if (ambulance.Lanes.Count > 0 && ambulance.Transport is null)
            failures.Add(new OptionFailure("AmbulanceConfigurator.Transport",
                "must be set for this transport: use the transport's UseAmbulanceLane (in-memory, or RabbitMQ from MassTransit.Patterns.RabbitMQ), or set Transport."));
    }

    /// <summary>
    /// The endpoint definition ConfigureEndpoints applies to <paramref name="queue"/>, chosen as it chooses it: the
    /// endpoints registered under that name if any, else the endpoint definitions of its consumers, else of its sagas
    /// (each one's <c>Endpoint(...)</c> settings and <c>AddConfigureEndpointCallback</c> callbacks).
    /// </summary>
    static IEndpointDefinition? EndpointDefinitionOf(string queue, List<IConsumerRegistration> consumers, List<ISagaRegistration> sagas,
        IRegistrationContext context, IContainerSelector selector, IEndpointNameFormatter formatter)
    {
        var named = selector.GetRegistrations<IEndpointRegistration>(context)
            .Where(r => r.IncludeInConfigureEndpoints)
            .Select(r => r.GetDefinition(context))
            .Where(d => d.GetEndpointName(formatter) == queue)
            .ToList();
        if (named.Count > 0)
            return named.Combine(context);
        if (consumers.Count > 0)
            return consumers.Select(r => r.GetDefinition(context))
                .Select(d => (IEndpointDefinition)new DelegateEndpointDefinition(queue, d, d.EndpointDefinition)).Combine(context);
        if (sagas.Count > 0)
            return sagas.Select(r => r.GetDefinition(context))
                .Select(d => (IEndpointDefinition)new DelegateEndpointDefinition(queue, d, d.EndpointDefinition)).Combine(context);
        return null;
    }

    sealed record LaneConsumers(List<IConsumerRegistration> Consumers, List<ISagaRegistration> Sagas, IEndpointDefinition? Definition);
}

/// <summary>
/// The lane's endpoint definition: the queue endpoint's definition (its temporary flag and its configure callbacks)
/// under the lane's name, with the lane's own concurrency and prefetch and no consume topology (the lane receives
/// only through the fork).
/// </summary>
sealed class LaneEndpointDefinition(IEndpointDefinition queue, AmbulanceLaneOptions lane, IRegistrationContext context) : IEndpointDefinition
{
    public bool IsTemporary => queue.IsTemporary;

    public int? PrefetchCount => lane.EffectivePrefetchCount;

    public int? ConcurrentMessageLimit => lane.EffectivePrefetchCount;

    public bool ConfigureConsumeTopology => false;

    public string GetEndpointName(IEndpointNameFormatter formatter) => lane.LaneName;

    public void Configure<T>(T configurator, IRegistrationContext? registration = null)
        where T : IReceiveEndpointConfigurator
    {
        // Before the queue's callbacks run on the lane: a pattern among them that would take the concurrency over steps aside.
        EndpointClaims.Reserve(configurator, EndpointTakeover.Concurrency);
        queue.Configure(configurator, registration ?? context);
    }
}

/// <summary>
/// Finds each lane's queue endpoint as it is configured: adds the lane-copy filter and the shared
/// slot filter, the fork to the queue's topology, and in ambulance mode raises the endpoint's
/// concurrency (and prefetch, if lower) by the lane's slots so idle lane slots can take normal work.
/// </summary>
sealed partial class QueueEndpointObserver(IReadOnlyList<LaneRegistration> lanes, IAmbulanceLaneTransport transport, ILogger logger)
    : IEndpointConfigurationObserver
{
    public void EndpointConfigured<T>(T configurator)
        where T : IReceiveEndpointConfigurator
    {
        var name = configurator.InputAddress.GetEndpointName();
        var lane = lanes.FirstOrDefault(l => string.Equals(l.Options.QueueName, name, StringComparison.Ordinal));
        if (lane is null || lane.QueueEndpointSeen)
            return;
        lane.QueueEndpointSeen = true;

        var options = lane.Options;
        var gate = lane.Gate!;
        var configuration = configurator as IReceiveEndpointConfiguration;
        var queueSlots = Math.Max(1, configuration?.ConcurrentMessageLimit ?? configuration?.PrefetchCount ?? 1);
        gate.QueueSlots = queueSlots;
        if (options.Mode == AmbulanceMode.Ambulance)
        {
            configurator.ConcurrentMessageLimit = gate.QueueEndpointLimit;
            if ((configuration?.PrefetchCount ?? 0) < gate.QueueEndpointLimit)
                configurator.PrefetchCount = gate.QueueEndpointLimit;
        }

        var pattern = lane.Source == LaneSource.Manual ? $"AmbulanceConfigurator.ReceiveEndpoint(\"{options.QueueName}\")"
            : lane.ConsumerType is { } consumer ? $"AmbulanceConfigurator.Endpoint<{consumer.Name}>"
            : $"AmbulanceConfigurator.Endpoint(\"{options.QueueName}\")";
        EndpointClaims.Claim(configurator, pattern, EndpointTakeover.None, EndpointTakeover.DeliveryOrder,
            $"consumes the urgent messages on a second endpoint, '{options.LaneName}', beside this endpoint's delivery order (a key's urgent and normal messages run at once)");

        configurator.ConfigureReceive(r => r.UseFilter(new LaneCopyFilter(transport, options)));
        configurator.UseFilter(new LaneSlotFilter(gate, lane: false));
        transport.ConfigureFork(configurator, lane.LaneEndpoint!, options);

        LaneConfigured(logger, options.LaneName, options.QueueName, options.Mode, options.ConcurrentMessageLimit, options.EffectivePrefetchCount,
            queueSlots, gate.QueueEndpointLimit, transport.Name);
    }

    [LoggerMessage(EventId = 5001, Level = LogLevel.Information,
        Message = "Ambulance lane {Lane} beside {Queue} on {Transport}: {Mode} mode, lane concurrency {LaneConcurrency} (prefetch {LanePrefetch}), queue slots {QueueSlots} (endpoint limit {QueueLimit})")]
    static partial void LaneConfigured(ILogger logger, string lane, string queue, AmbulanceMode mode, int laneConcurrency, int lanePrefetch,
        int queueSlots, int queueLimit, string transport);
}

/// <summary>Reports the options' failures, and lanes whose queue endpoint was never configured, when the bus is built.</summary>
sealed class AmbulanceValidation(IReadOnlyList<OptionFailure> failures, IReadOnlyList<LaneRegistration> lanes) : IPipeSpecification<ConsumeContext>
{
    public void Apply(IPipeBuilder<ConsumeContext> builder)
    {
    }

    public IEnumerable<ValidationResult> Validate()
    {
        foreach (var failure in failures)
            yield return new OptionValidationResult(failure.Option, failure.Message);
        if (failures.Count > 0)
            yield break;
        foreach (var lane in lanes.Where(l => !l.QueueEndpointSeen))
            yield return new OptionValidationResult($"AmbulanceLaneOptions[{lane.Options.QueueName}].QueueName",
                $"no receive endpoint '{lane.Options.QueueName}' was configured after UseAmbulanceLane: call UseAmbulanceLane before ConfigureEndpoints.");
    }
}

/// <summary>Adds each lane queue to the queue depth monitor while the bus runs, so its broker-side depth is recorded.</summary>
sealed class LaneDepthSubscription(IQueueDepthMonitor monitor, IReadOnlyList<string> lanes) : IBusObserver
{
    readonly List<IDisposable> _subscriptions = [];

    public void PostCreate(IBus bus)
    {
    }

    public void CreateFaulted(Exception exception)
    {
    }

    public Task PreStart(IBus bus) => Task.CompletedTask;

    public Task PostStart(IBus bus, Task<BusReady> busReady)
    {
        lock (_subscriptions)
            foreach (var lane in lanes)
                _subscriptions.Add(monitor.Subscribe(lane, static (_, _) => Task.CompletedTask));
        return Task.CompletedTask;
    }

    public Task StartFaulted(IBus bus, Exception exception) => PostStop(bus);

    public Task PreStop(IBus bus) => Task.CompletedTask;

    public Task PostStop(IBus bus)
    {
        lock (_subscriptions)
        {
            foreach (var subscription in _subscriptions)
                subscription.Dispose();
            _subscriptions.Clear();
        }
        return Task.CompletedTask;
    }

    public Task StopFaulted(IBus bus, Exception exception) => PostStop(bus);
}

static partial class AmbulanceLog
{
    [LoggerMessage(EventId = 5002, Level = LogLevel.Information,
        Message = "{Pattern} from the configuration of {Queue} does not apply to its lane {Lane}: the lane's concurrency is its own ({LaneConcurrency} slots)")]
    public static partial void SteppedAside(ILogger logger, string pattern, string lane, string queue, int laneConcurrency);
}
