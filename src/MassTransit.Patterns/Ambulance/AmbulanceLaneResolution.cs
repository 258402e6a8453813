using MassTransit.Configuration;
using MassTransit.Patterns.Configuration;
using MassTransit.Transports;

namespace MassTransit.Patterns.Ambulance;

/// <summary>
/// Finds the lanes' consumers and sagas in the bus registration as <c>ConfigureEndpoints</c> would, adds the lanes that
/// consumer and saga definitions ask for (<see cref="IAmbulanceLaneDefinition"/>), and collects what is wrong with the
/// lanes as configured.
/// </summary>
static class AmbulanceLaneResolution
{
    public static void Resolve(AmbulanceConfigurator ambulance, IRegistrationContext context, List<OptionFailure> failures,
        Dictionary<LaneRegistration, LaneConsumers> consumers)
    {
        var selector = context.GetService(typeof(IContainerSelector)) as IContainerSelector;
        var formatter = ambulance.EndpointNameFormatter
            ?? (context as IBusRegistrationContext)?.EndpointNameFormatter
            ?? DefaultEndpointNameFormatter.Instance;

        // Definitions that ask for a lane (IAmbulanceLaneDefinition), unless a lane is configured explicitly for their endpoint.
        if (selector is not null)
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
            selector!.TryGetRegistration<IConsumerRegistration>(context, type, out var c) && c.GetDefinition(context).GetEndpointName(formatter) == name
            || selector.TryGetRegistration<ISagaRegistration>(context, type, out var s) && s.GetDefinition(context).GetEndpointName(formatter) == name;

        foreach (var lane in ambulance.Lanes.Where(l => l.Source == LaneSource.Registered))
        {
            var what = lane.ConsumerType is { } t ? $"Endpoint<{t.Name}>" : $"Endpoint(\"{lane.Options.QueueName}\")";
            if (selector is null)
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

}
