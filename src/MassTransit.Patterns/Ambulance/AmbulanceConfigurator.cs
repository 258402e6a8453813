namespace MassTransit.Patterns.Ambulance;

/// <summary>
/// What <c>UseAmbulanceLane</c> sets up on a bus: which messages are urgent (predicates; the
/// <see cref="UrgentAttribute"/> and <c>context.SetUrgent()</c> are always honoured) and which
/// queues get a lane. A bus that only sends needs only the rules; a bus that consumes names the
/// queues whose consumers get a lane.
/// </summary>
public sealed class AmbulanceConfigurator
{
    internal UrgentClassifier Classifier { get; } = new();

    internal List<LaneRegistration> Lanes { get; } = [];

    /// <summary>
    /// The transport's lane topology. Set by the transport's own <c>UseAmbulanceLane</c> overload
    /// (in-memory here, RabbitMQ in MassTransit.Patterns.RabbitMQ); set it yourself for another transport.
    /// </summary>
    public IAmbulanceLaneTransport? Transport { get; set; }

    /// <summary>The formatter that names endpoints configured by <c>ConfigureEndpoints</c>; default the bus registration's own.</summary>
    public IEndpointNameFormatter? EndpointNameFormatter { get; set; }

    /// <summary>Messages of type <typeparamref name="T"/> (or derived from it) for which <paramref name="predicate"/> holds are urgent.</summary>
    public AmbulanceConfigurator Urgent<T>(Func<T, bool> predicate)
        where T : class
    {
        Classifier.Add(predicate);
        return this;
    }

    /// <summary>
    /// Adds a lane beside <paramref name="queueName"/>, an endpoint that <c>ConfigureEndpoints</c>
    /// creates: the lane endpoint is configured as <c>ConfigureEndpoints</c> configures the queue's,
    /// with the same endpoint definition (the consumers' and sagas' <c>Endpoint(...)</c> settings and
    /// <c>AddConfigureEndpointCallback</c> callbacks), the same <c>AddConfigureEndpointsCallback</c>
    /// callbacks (called with <paramref name="queueName"/>), the same consumers and sagas with their
    /// definitions, and its own concurrency and prefetch. Configuration written inline in a
    /// <c>ReceiveEndpoint(queueName, ...)</c> of your own does not reach the lane: use
    /// <see cref="ReceiveEndpoint"/> for such an endpoint.
    /// </summary>
    public AmbulanceConfigurator Endpoint(string queueName, Action<AmbulanceLaneOptions>? configure = null)
    {
        var options = new AmbulanceLaneOptions { QueueName = queueName };
        configure?.Invoke(options);
        Lanes.Add(new LaneRegistration(options, LaneSource.Registered));
        return this;
    }

    /// <summary>
    /// Adds a lane beside the endpoint on which <c>ConfigureEndpoints</c> puts the consumer or saga
    /// <typeparamref name="T"/> (its definition's endpoint name).
    /// </summary>
    public AmbulanceConfigurator Endpoint<T>(Action<AmbulanceLaneOptions>? configure = null)
        where T : class
    {
        var options = new AmbulanceLaneOptions();
        configure?.Invoke(options);
        Lanes.Add(new LaneRegistration(options, LaneSource.Registered) { ConsumerType = typeof(T) });
        return this;
    }

    /// <summary>
    /// Creates the receive endpoint <paramref name="queueName"/> and its lane, both configured by
    /// <paramref name="configureEndpoint"/> (it runs once for each): for endpoints you declare
    /// yourself rather than through <c>ConfigureEndpoints</c>.
    /// </summary>
    public AmbulanceConfigurator ReceiveEndpoint(string queueName, Action<IReceiveEndpointConfigurator> configureEndpoint,
        Action<AmbulanceLaneOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(configureEndpoint);
        var options = new AmbulanceLaneOptions { QueueName = queueName };
        configure?.Invoke(options);
        Lanes.Add(new LaneRegistration(options, LaneSource.Manual) { ConfigureEndpoint = configureEndpoint });
        return this;
    }
}
